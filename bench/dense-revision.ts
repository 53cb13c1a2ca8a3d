import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import { join } from "node:path";
import { type FixtureOptions, makeRevision } from "../test/helpers/registry/fixtures.js";

// A revision whose rootfs is dense random data (every byte travels and is hashed), for the transfer
// and verify benchmarks. Its checksums are left to the caller, which decides whether the digests are
// remembered as a build would.

const MiB = 1 << 20;

/** Writes `bytes` of random data to `path`, 8 MiB at a time. */
export async function denseFile(path: string, bytes: number): Promise<void> {
  const fh = await fs.open(path, "w");
  try {
    for (let off = 0; off < bytes; off += 8 * MiB)
      await fh.write(randomBytes(Math.min(8 * MiB, bytes - off)));
  } finally {
    await fh.close();
  }
}

/**
 * A revision of `name` in the data dir `home` whose rootfs holds `rootfsBytes` of random data;
 * revision.json records that size (a pull checks it).
 */
export async function denseRevision(
  home: string,
  name: string,
  rootfsBytes: number,
  opts: FixtureOptions = {},
): Promise<{ dir: string; rev: string }> {
  const fx = await makeRevision(home, name, { ...opts, rootfsBytes: 16 * MiB, rootfsDataBytes: MiB });
  await denseFile(join(fx.dir, "rootfs.ext4"), rootfsBytes);
  const revFile = join(fx.dir, "revision.json");
  const rev = JSON.parse(await fs.readFile(revFile, "utf8")) as {
    artifact_paths: { sizes: { rootfs_bytes: number } };
  };
  rev.artifact_paths.sizes.rootfs_bytes = rootfsBytes;
  await fs.writeFile(revFile, `${JSON.stringify(rev, null, 2)}\n`);
  return fx;
}
