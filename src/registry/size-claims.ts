import { maxArtifactBytes } from "../core/artifact-limits.js";
import { MvmError } from "../core/errors.js";
import type { TemplateRevision } from "../core/revision.js";
import { formatBytes } from "../core/sizes.js";
import type { RemoteIndex } from "./index.js";

// What a registry says about the size of each file, checked before the file is downloaded: the decoded
// size of a sparse stream is only ever hashed and written as far as these checks allow, so a stream
// that announces more zeros than any guest could hold fails at once instead of pinning a CPU.

/** Refuses sizes no revision could have: over the bound for the file, or stored bytes that cannot be it. */
export function checkClaimedSizes(index: RemoteIndex, where: string): void {
  for (const [name, form] of Object.entries(index.transfer)) {
    const max = maxArtifactBytes(name);
    if (form.size > max)
      throw new MvmError(
        "corrupt",
        `${where} claims ${name} is ${form.size} bytes, more than mvmctl accepts for it (${formatBytes(max)})`,
      );
    if (form.encoding === "identity" && form.stored_size !== form.size)
      throw new MvmError(
        "corrupt",
        `${where} stores ${name} as ${form.stored_size} bytes but says the file is ${form.size} bytes`,
      );
  }
}

/** The size revision.json records for each of its files (when it records one). */
export function recordedSizes(rev: TemplateRevision): Map<string, number> {
  const out = new Map<string, number>();
  const p = rev.artifact_paths;
  if (p.sizes) {
    out.set(p.vmlinux, p.sizes.vmlinux_bytes);
    out.set(p.rootfs, p.sizes.rootfs_bytes);
    if (p.initrd && p.sizes.initrd_bytes !== undefined) out.set(p.initrd, p.sizes.initrd_bytes);
  }
  if (rev.snapshot) {
    out.set("snapshot/mem.bin", rev.snapshot.mem_size_bytes);
    out.set("snapshot/vmstate.bin", rev.snapshot.vmstate_size_bytes);
  }
  return out;
}

/** Every file the index lists must have the size the revision's own record gives it. */
export function checkRecordedSizes(index: RemoteIndex, rev: TemplateRevision, where: string): void {
  for (const [name, size] of recordedSizes(rev)) {
    const form = index.transfer[name];
    if (form && form.size !== size)
      throw new MvmError(
        "corrupt",
        `${where} says ${name} is ${form.size} bytes but its revision.json records ${size}; nothing was installed`,
      );
  }
}
