import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import { join } from "node:path";
import type { TemplateRevision } from "../../../src/core/revision.js";
import { toJson } from "../../../src/core/schema.js";
import { newSpec } from "../../../src/core/spec.js";
import { writeChecksums } from "../../../src/store/checksums.js";
import { DataPaths } from "../../../src/store/paths.js";
import { TemplateStore } from "../../../src/store/templates.js";

// Revisions made through the store API with generated files: a sparse rootfs holding some data at
// scattered offsets, random kernel and initrd bytes, optional snapshot files, a revision.json that
// validates and the checksums.json a build writes.

const NIX32 = "0123456789abcdfghijklmnpqrsvwxyz";

export function randomRevision(): string {
  const bytes = randomBytes(32);
  let out = "";
  for (const b of bytes) out += NIX32[b % 32];
  return out;
}

export interface FixtureOptions {
  rootfsBytes?: number;
  /** Random data written into the rootfs, spread over a few extents. */
  rootfsDataBytes?: number;
  kernelBytes?: number;
  snapshot?: boolean;
  /** Size of snapshot/mem.bin (sparse, 512 KiB of data); 32 MiB unless given. */
  memBytes?: number;
  rev?: string;
}

export interface Fixture {
  store: TemplateStore;
  paths: DataPaths;
  name: string;
  rev: string;
  dir: string;
}

async function writeSparse(path: string, size: number, dataBytes: number): Promise<void> {
  const fh = await fs.open(path, "w");
  try {
    await fh.truncate(size);
    const extents = Math.max(1, Math.min(8, Math.floor(dataBytes / (64 * 1024))));
    const per = Math.floor(dataBytes / extents);
    for (let i = 0; i < extents && per > 0; i++) {
      // Offsets not aligned to the 64 KiB zero-detection block, to exercise partial blocks.
      const offset = Math.floor((size / extents) * i) + 4096 * (i + 1);
      const len = Math.min(per, size - offset);
      let done = 0;
      while (done < len) {
        const n = Math.min(len - done, 4 << 20);
        await fh.write(randomBytes(n), 0, n, offset + done);
        done += n;
      }
    }
  } finally {
    await fh.close();
  }
}

export async function makeRevision(
  dataDir: string,
  name: string,
  opts: FixtureOptions = {},
): Promise<Fixture> {
  const paths = new DataPaths(dataDir);
  const store = new TemplateStore(paths);
  const spec = newSpec({
    template_id: name,
    flake_ref: "/srv/flakes/web",
    profile: "default",
    role: "worker",
    vcpus: 2,
    mem_mib: 512,
    data_disk_mib: 0,
  });
  if (!(await store.exists(name))) await store.writeSpec(spec);
  const rev = opts.rev ?? randomRevision();
  const dir = paths.revision(name, rev);
  await fs.mkdir(join(dir, "snapshot"), { recursive: true });
  const kernelBytes = opts.kernelBytes ?? 256 * 1024;
  const rootfsBytes = opts.rootfsBytes ?? 64 << 20;
  await fs.writeFile(join(dir, "vmlinux"), randomBytes(kernelBytes));
  await fs.writeFile(join(dir, "initrd"), randomBytes(32 * 1024));
  await writeSparse(join(dir, "rootfs.ext4"), rootfsBytes, opts.rootfsDataBytes ?? 1 << 20);
  await fs.writeFile(join(dir, "fc-base.json"), toJson({ "boot-source": { kernel_image_path: "vmlinux" } }));
  const revision: TemplateRevision = {
    schema_version: 1,
    revision_hash: rev,
    flake_ref: spec.flake_ref,
    flake_lock_hash: "sha256-AAAA",
    artifact_paths: {
      vmlinux: "vmlinux",
      rootfs: "rootfs.ext4",
      fc_base_config: "fc-base.json",
      initrd: "initrd",
      sizes: { vmlinux_bytes: kernelBytes, rootfs_bytes: rootfsBytes, initrd_bytes: 32 * 1024 },
    },
    built_at: "2026-11-25T12:00:00Z",
    profile: "default",
    role: "worker",
    vcpus: 2,
    mem_mib: 512,
    data_disk_mib: 0,
    snapshot: null,
    spec,
  };
  if (opts.snapshot) {
    await fs.writeFile(join(dir, "snapshot/vmstate.bin"), randomBytes(100 * 1024));
    const memBytes = opts.memBytes ?? 32 << 20;
    await writeSparse(join(dir, "snapshot/mem.bin"), memBytes, 512 * 1024);
    revision.snapshot = {
      created_at: "2026-11-25T12:01:00Z",
      vmstate_size_bytes: 100 * 1024,
      mem_size_bytes: memBytes,
      boot_args: "console=ttyS0",
      vcpus: 2,
      mem_mib: 512,
      backend: "qemu",
    };
  } else await fs.rmdir(join(dir, "snapshot"));
  await store.writeRevision(dir, revision);
  await writeChecksums(dir, name, rev);
  await store.setCurrent(name, rev);
  return { store, paths, name, rev, dir };
}

/** Every file under a directory (relative paths) with its bytes' SHA-256, for before/after comparisons. */
export async function treeDigest(root: string): Promise<Record<string, string>> {
  const { createHash } = await import("node:crypto");
  const out: Record<string, string> = {};
  const walk = async (dir: string, rel: string) => {
    const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const p = join(dir, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(p, r);
      else if (e.isSymbolicLink()) out[r] = `-> ${await fs.readlink(p)}`;
      else
        out[r] = createHash("sha256")
          .update(await fs.readFile(p))
          .digest("hex");
    }
  };
  await walk(root, "");
  return out;
}
