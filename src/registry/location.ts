import { usageError } from "../core/errors.js";
import { REGISTRY_LAYOUTS, type RegistryLayout } from "./index.js";
import { type RegistryLocation, TRANSPORT_KINDS } from "./transports/index.js";
import { envValue, refuseUserinfo } from "./transports/location-rules.js";
import type { TransportKind } from "./transports/transport.js";

export type { RegistryLocation };

// Where the registry is: --registry URL, else $MVM_TEMPLATE_REGISTRY, else a kind's own variables (the
// original mvm's MVM_TEMPLATE_REGISTRY_* for S3, same names and rules), else file://<data>/registry.

/** The kind whose URL scheme (and location `kind`) this is. */
export function kindFor(scheme: string): TransportKind<RegistryLocation> | undefined {
  return TRANSPORT_KINDS.find((k) => k.scheme === scheme) as TransportKind<RegistryLocation> | undefined;
}

const SCHEMES = TRANSPORT_KINDS.map((k) => `${k.scheme}://`);
const SCHEME_LIST = `${SCHEMES.slice(0, -1).join(", ")} or ${SCHEMES.at(-1)}`;

export function parseRegistryUrl(url: string, env: NodeJS.ProcessEnv = process.env): RegistryLocation {
  const scheme0 = /^([a-z0-9+]+):/i.exec(url.trim())?.[1]?.toLowerCase() ?? "";
  refuseUserinfo(
    "registry",
    url,
    kindFor(scheme0)?.credentialHint ?? "Remove the user:password@ part from the URL.",
  );
  const m = /^([a-z0-9+]+):\/\/(.*)$/i.exec(url.trim());
  if (!m) throw usageError(`invalid registry ${JSON.stringify(url)}: expected ${SCHEME_LIST}`);
  const scheme = m[1]!.toLowerCase();
  const kind = kindFor(scheme);
  if (!kind) throw usageError(`unsupported registry scheme ${JSON.stringify(scheme)}: use ${SCHEME_LIST}`);
  return kind.parse(url, m[2]!, env);
}

/** Resolves the registry for a command: flag, then environment, then the default file registry. */
export function resolveRegistry(
  flag: string | undefined,
  defaultRoot: string,
  env: NodeJS.ProcessEnv = process.env,
): RegistryLocation {
  if (flag !== undefined) return parseRegistryUrl(flag, env);
  const fromEnv = envValue(env, "MVM_TEMPLATE_REGISTRY");
  if (fromEnv) return parseRegistryUrl(fromEnv, env);
  for (const kind of TRANSPORT_KINDS) {
    const loc = kind.fromEnv?.(env);
    if (loc) return loc;
  }
  return { kind: "file", root: defaultRoot };
}

export function describeLocation(loc: RegistryLocation): string {
  return kindFor(loc.kind)!.describe(loc);
}

/**
 * The layout push writes: --layout, else $MVM_TEMPLATE_REGISTRY_LAYOUT, else "mvm". "original" is what
 * the original mvm reads (plain objects, `vmlinux`, its checksums.json shape).
 */
export function resolveLayout(
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): RegistryLayout {
  const fromEnv = envValue(env, "MVM_TEMPLATE_REGISTRY_LAYOUT");
  const [value, source] = flag !== undefined ? [flag, "--layout"] : [fromEnv, "MVM_TEMPLATE_REGISTRY_LAYOUT"];
  if (value === undefined) return "mvm";
  const v = value.trim().toLowerCase();
  if (!(REGISTRY_LAYOUTS as readonly string[]).includes(v))
    throw usageError(
      `invalid ${source} ${JSON.stringify(value.slice(0, 64))}: expected ${REGISTRY_LAYOUTS.join(" or ")}`,
    );
  return v as RegistryLayout;
}
