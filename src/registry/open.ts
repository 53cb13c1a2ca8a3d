import { FileTransport } from "./transports/file.js";
import { type RegistryLocation, resolveRegistry } from "./location.js";
import type { RegistryTransport } from "./transports/transport.js";

/** The transport for a resolved location; each kind lives in its own file. */
export async function openTransport(loc: RegistryLocation): Promise<RegistryTransport> {
  switch (loc.kind) {
    case "file":
      return new FileTransport(loc);
    case "s3": {
      const { S3Transport } = await import("./transports/s3.js");
      return new S3Transport(loc);
    }
    case "oci": {
      const { OciTransport } = await import("./transports/oci.js");
      return OciTransport.open(loc);
    }
  }
}

/** Resolves --registry / environment / default and opens the transport. */
export async function openRegistry(
  flag: string | undefined,
  defaultRoot: string,
): Promise<RegistryTransport> {
  return openTransport(resolveRegistry(flag, defaultRoot));
}

/** Opens the registry, runs `fn`, and always releases the transport. */
export async function withRegistry<T>(
  flag: string | undefined,
  defaultRoot: string,
  fn: (t: RegistryTransport) => Promise<T>,
): Promise<T> {
  const t = await openRegistry(flag, defaultRoot);
  try {
    return await fn(t);
  } finally {
    await t.close();
  }
}
