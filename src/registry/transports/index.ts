import { fileKind } from "./file.js";
import { ociKind } from "./oci.js";
import { s3Kind } from "./s3.js";

// Every registry kind, in one list: URL parsing, descriptions and opening derive from it. The first
// kind whose fromEnv answers supplies the registry when neither a flag nor MVM_TEMPLATE_REGISTRY does.
export const TRANSPORT_KINDS = [fileKind, s3Kind, ociKind] as const;

type KindOf<K> = K extends { parse(...args: never[]): infer L } ? L : never;

/** Where a registry is: the location of one of the kinds above. */
export type RegistryLocation = KindOf<(typeof TRANSPORT_KINDS)[number]>;
