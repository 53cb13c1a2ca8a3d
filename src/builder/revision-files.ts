import { promises as fs } from "node:fs";
import { join } from "node:path";
import { FC_BASE_FILE, INITRD_NAME, ROOTFS_NAME } from "../core/artifacts.js";
import type { ArtifactSizes, TemplateRevision } from "../core/revision.js";
import { REVISION_SCHEMA_VERSION } from "../core/revision.js";
import { toJson } from "../core/schema.js";
import type { SnapshotInfo } from "../core/snapshot.js";
import type { TemplateSpec } from "../core/spec.js";
import { revisionTimestamp } from "../core/time.js";
import { writeFileAtomic } from "../store/atomic.js";
import { fcBaseConfig } from "./fc-base.js";
import { type Placement, placeFile } from "./materialize.js";
import type { BuildOutput, KernelName } from "./output-contract.js";

// Fills a (staging) revision directory: the artifacts from the store, fc-base.json, and the record of the
// revision. checksums.json is written by the caller once every file is in place.

export type PackRootfs = (treeDir: string, outFile: string) => Promise<void>;

export interface PlacedArtifacts {
  kernelFile: KernelName;
  initrdFile: string | undefined;
  placements: Record<string, Placement | "packed">;
}

export async function placeArtifacts(
  dir: string,
  out: BuildOutput,
  packRootfs: PackRootfs,
  onStep: (msg: string) => void,
): Promise<PlacedArtifacts> {
  const placements: PlacedArtifacts["placements"] = {};
  placements[out.kernel.name] = await placeFile(out.kernel.path, join(dir, out.kernel.name));
  if (out.initrd) placements[INITRD_NAME] = await placeFile(out.initrd, join(dir, INITRD_NAME));
  if (out.rootfs.kind === "image") {
    placements[ROOTFS_NAME] = await placeFile(out.rootfs.path, join(dir, ROOTFS_NAME));
  } else {
    onStep("packing rootfs/ into rootfs.ext4");
    await packRootfs(out.rootfs.path, join(dir, ROOTFS_NAME));
    placements[ROOTFS_NAME] = "packed";
  }
  return { kernelFile: out.kernel.name, initrdFile: out.initrd ? INITRD_NAME : undefined, placements };
}

async function sizeOf(path: string): Promise<{ bytes: number; allocated: number }> {
  const st = await fs.stat(path);
  return { bytes: st.size, allocated: st.blocks * 512 };
}

export async function measureSizes(
  dir: string,
  kernelFile: string,
  initrdFile: string | undefined,
  closureBytes: number | undefined,
): Promise<ArtifactSizes> {
  const k = await sizeOf(join(dir, kernelFile));
  const r = await sizeOf(join(dir, ROOTFS_NAME));
  const sizes: ArtifactSizes = {
    vmlinux_bytes: k.bytes,
    rootfs_bytes: r.bytes,
    vmlinux_allocated_bytes: k.allocated,
    rootfs_allocated_bytes: r.allocated,
  };
  if (initrdFile) {
    const i = await sizeOf(join(dir, initrdFile));
    sizes.initrd_bytes = i.bytes;
    sizes.initrd_allocated_bytes = i.allocated;
  }
  if (closureBytes !== undefined) sizes.nix_closure_bytes = closureBytes;
  return sizes;
}

export interface RevisionFacts {
  rev: string;
  spec: TemplateSpec;
  flakeLockHash: string;
  kernelFile: string;
  initrdFile: string | undefined;
  sizes: ArtifactSizes;
  outPath: string;
  attribute: string;
  system: string;
  snapshot: SnapshotInfo | null;
  builtAt?: string;
}

export function revisionRecord(f: RevisionFacts): TemplateRevision {
  const paths: TemplateRevision["artifact_paths"] = {
    vmlinux: f.kernelFile,
    rootfs: ROOTFS_NAME,
    fc_base_config: FC_BASE_FILE,
  };
  if (f.initrdFile) paths.initrd = f.initrdFile;
  paths.sizes = f.sizes;
  return {
    schema_version: REVISION_SCHEMA_VERSION,
    revision_hash: f.rev,
    flake_ref: f.spec.flake_ref,
    flake_lock_hash: f.flakeLockHash,
    artifact_paths: paths,
    built_at: f.builtAt ?? revisionTimestamp(),
    profile: f.spec.profile,
    role: f.spec.role,
    vcpus: f.spec.vcpus,
    mem_mib: f.spec.mem_mib,
    data_disk_mib: f.spec.data_disk_mib,
    snapshot: f.snapshot,
    spec: f.spec,
    nix_out_path: f.outPath,
    attribute: f.attribute,
    system: f.system,
  };
}

/** Writes fc-base.json and revision.json (each atomically) into `dir`. */
export async function writeMetadata(dir: string, rev: TemplateRevision): Promise<void> {
  const fc = fcBaseConfig({
    kernelFile: rev.artifact_paths.vmlinux,
    initrdFile: rev.artifact_paths.initrd,
    rootfsFile: rev.artifact_paths.rootfs,
    vcpus: rev.vcpus,
    memMib: rev.mem_mib,
  });
  await writeFileAtomic(join(dir, FC_BASE_FILE), toJson(fc));
  await writeFileAtomic(join(dir, "revision.json"), toJson(rev));
}
