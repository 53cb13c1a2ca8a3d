import { flakeRefProblem } from "./flake-ref.js";
import { revisionProblem } from "./names.js";
import { checkSchemaVersion } from "./schema.js";
import { parseSnapshotInfo, type SnapshotInfo } from "./snapshot.js";
import { parseSpec, type TemplateSpec } from "./spec.js";
import { Reader, U32, U64, U8 } from "./validate.js";

export const REVISION_SCHEMA_VERSION = 1;

/** The original mvm's ArtifactSizes plus allocated (on-disk) sizes, which the original did not record. */
export interface ArtifactSizes {
  vmlinux_bytes: number;
  rootfs_bytes: number;
  initrd_bytes?: number;
  nix_closure_bytes?: number;
  vmlinux_allocated_bytes?: number;
  rootfs_allocated_bytes?: number;
  initrd_allocated_bytes?: number;
}

export interface ArtifactPaths {
  vmlinux: string; // file name of the kernel inside the revision: "vmlinux" or "kernel"
  rootfs: string;
  fc_base_config: string;
  initrd?: string;
  sizes?: ArtifactSizes;
}

/** revision.json in the original mvm's shape; extensions over it are optional fields at the end. */
export interface TemplateRevision {
  schema_version: number;
  revision_hash: string;
  flake_ref: string;
  flake_lock_hash: string;
  artifact_paths: ArtifactPaths;
  built_at: string;
  profile: string;
  role: string;
  vcpus: number;
  mem_mib: number;
  data_disk_mib: number;
  snapshot: SnapshotInfo | null;
  // Extensions.
  spec?: TemplateSpec; // the spec this revision was built from
  nix_out_path?: string;
  attribute?: string;
  system?: string;
}

export function totalBytes(s: ArtifactSizes): number {
  return s.vmlinux_bytes + s.rootfs_bytes + (s.initrd_bytes ?? 0);
}

const FILE_NAME = /^[A-Za-z0-9._-]{1,64}$/;

function parseSizes(r: Reader): ArtifactSizes {
  const out: ArtifactSizes = {
    vmlinux_bytes: r.intOr("vmlinux_bytes", 0, U64, 0),
    rootfs_bytes: r.intOr("rootfs_bytes", 0, U64, 0),
  };
  for (const k of [
    "initrd_bytes",
    "nix_closure_bytes",
    "vmlinux_allocated_bytes",
    "rootfs_allocated_bytes",
    "initrd_allocated_bytes",
  ] as const) {
    const v = r.optInt(k, 0, U64);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

function parseArtifactPaths(r: Reader): ArtifactPaths {
  const out: ArtifactPaths = {
    vmlinux: r.string("vmlinux", { pattern: FILE_NAME }),
    rootfs: r.string("rootfs", { pattern: FILE_NAME }),
    fc_base_config: r.has("fc_base_config")
      ? r.string("fc_base_config", { pattern: FILE_NAME })
      : "fc-base.json",
  };
  const initrd = r.optString("initrd", { pattern: FILE_NAME });
  if (initrd !== undefined) out.initrd = initrd;
  const sizes = r.optObj("sizes");
  if (sizes) out.sizes = parseSizes(sizes);
  return out;
}

export function parseRevision(v: unknown): TemplateRevision {
  const r = Reader.root(v, "revision.json");
  const schema_version = r.intOr("schema_version", 0, U32, 1);
  checkSchemaVersion(schema_version, REVISION_SCHEMA_VERSION);
  const rev: TemplateRevision = {
    schema_version,
    revision_hash: r.string("revision_hash", { check: revisionProblem }),
    flake_ref: r.string("flake_ref", { check: flakeRefProblem }),
    flake_lock_hash: r.string("flake_lock_hash", { max: 256 }),
    artifact_paths: parseArtifactPaths(r.obj_("artifact_paths")),
    built_at: r.string("built_at", { max: 64 }),
    profile: r.string("profile", { max: 63 }),
    role: r.string("role", { max: 63 }),
    vcpus: r.int("vcpus", 0, U8),
    mem_mib: r.int("mem_mib", 0, U32),
    data_disk_mib: r.intOr("data_disk_mib", 0, U32, 0),
    snapshot: null,
  };
  if (r.has("snapshot") && r.raw("snapshot") !== null) rev.snapshot = parseSnapshotInfo(r.obj_("snapshot"));
  if (r.has("spec") && r.raw("spec") !== null) rev.spec = parseSpec(r.raw("spec"));
  const out = r.optString("nix_out_path", { pattern: /^\/nix\/store\/[0-9a-z]{32}-[A-Za-z0-9+._?=-]+$/ });
  if (out !== undefined) rev.nix_out_path = out;
  const attribute = r.optString("attribute", { max: 512 });
  if (attribute !== undefined) rev.attribute = attribute;
  const system = r.optString("system", { pattern: /^(x86_64|aarch64)-linux$/ });
  if (system !== undefined) rev.system = system;
  return rev;
}

/** Serialises in the original's field order, extensions last. */
export function revisionToJson(rev: TemplateRevision): unknown {
  return { ...rev };
}
