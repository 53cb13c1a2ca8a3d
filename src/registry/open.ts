import { kindFor, type RegistryLocation, resolveRegistry } from "./location.js";
import type { RegistryTransport } from "./transports/transport.js";

/** The transport for a resolved location; each kind lives in its own file under transports/. */
export function openTransport(loc: RegistryLocation): Promise<RegistryTransport> {
  return kindFor(loc.kind)!.open(loc);
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
