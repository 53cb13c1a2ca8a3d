import { copyFileSync, mkdirSync } from "node:fs";
import { basename, join } from "node:path";
import { newSpec } from "../../src/core/spec.js";
import { writeChecksums } from "../../src/store/checksums.js";
import type { DataPaths } from "../../src/store/paths.js";
import { TemplateStore } from "../../src/store/templates.js";

// A template whose current revision holds given boot images, written straight into a data dir (no
// nix build): what the VM tests run when the images come from a cache or a fake.

export interface TemplateImages {
  /** Named `vmlinux` or `kernel` in the revision, as its file is. */
  kernel: string;
  initrd?: string;
  rootfs: string;
}

export async function templateFromImages(
  paths: DataPaths,
  name: string,
  images: TemplateImages,
  sizing: { vcpus: number; memMib: number } = { vcpus: 1, memMib: 128 },
): Promise<TemplateStore> {
  const store = new TemplateStore(paths);
  await store.writeSpec(
    newSpec({
      template_id: name,
      flake_ref: ".",
      profile: "default",
      role: "worker",
      vcpus: sizing.vcpus,
      mem_mib: sizing.memMib,
      data_disk_mib: 0,
    }),
  );
  const rev = "0123456789abcdefghijklmnopqrstuv";
  const dir = paths.revision(name, rev);
  mkdirSync(dir, { recursive: true });
  const kernelName = basename(images.kernel) === "kernel" ? "kernel" : "vmlinux";
  copyFileSync(images.kernel, join(dir, kernelName));
  if (images.initrd) copyFileSync(images.initrd, join(dir, "initrd"));
  copyFileSync(images.rootfs, join(dir, "rootfs.ext4"));
  await store.writeRevision(dir, {
    schema_version: 1,
    revision_hash: rev,
    flake_ref: ".",
    flake_lock_hash: "",
    artifact_paths: {
      vmlinux: kernelName,
      rootfs: "rootfs.ext4",
      fc_base_config: "fc-base.json",
      ...(images.initrd ? { initrd: "initrd" } : {}),
    },
    built_at: "2026-11-25T00:00:00Z",
    profile: "default",
    role: "worker",
    vcpus: sizing.vcpus,
    mem_mib: sizing.memMib,
    data_disk_mib: 0,
    snapshot: null,
  });
  await writeChecksums(dir, name, rev);
  await store.setCurrent(name, rev);
  return store;
}
