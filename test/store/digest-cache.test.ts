import assert from "node:assert/strict";
import { existsSync, promises as fs, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { sha256File } from "../../src/store/checksums.js";
import { DigestCache } from "../../src/store/digest-cache.js";
import { DataPaths } from "../../src/store/paths.js";
import { runCli, tempDir } from "../helpers/cli.js";
import { makeRevision } from "../helpers/registry/fixtures.js";

// Remembered digests: a push hashes a revision's files once and later pushes trust the digest while
// the file is provably the same one (device, inode, size, mtime, ctime); any change is caught.

async function push(data: string, reg: string) {
  return runCli(["template", "push", "web", "--registry", `file://${reg}`, "--json"], {
    dataDir: data,
    timeoutMs: 120_000,
  });
}

test("push remembers what it hashed; an in-place change (mtime put back) is still caught", async () => {
  const data = tempDir("mvm-digests-");
  const fx = await makeRevision(data, "web", { rootfsBytes: 8 << 20, rootfsDataBytes: 4 << 20 });
  const cache = DigestCache.of(new DataPaths(data));
  const rootfs = join(fx.dir, "rootfs.ext4");
  assert.equal(await cache.lookup(rootfs), undefined, "nothing remembered before the first push");

  const first = await push(data, tempDir("mvm-reg-"));
  assert.equal(first.code, 0, first.stderr);
  const digest = await sha256File(rootfs);
  assert.equal(await cache.lookup(rootfs), digest, "the first push remembers the rootfs's digest");
  assert.ok(existsSync(cache.file));
  assert.match(readFileSync(cache.file, "utf8"), /rootfs\.ext4/);

  // Unchanged: a second push to another registry succeeds on the remembered digests.
  const second = await push(data, tempDir("mvm-reg-"));
  assert.equal(second.code, 0, second.stderr);

  // Same size, same mtime, different bytes: the change time gives it away and the push refuses.
  const st = await fs.stat(rootfs);
  const fh = await fs.open(rootfs, "r+");
  await fh.write(Buffer.from("tampered"), 0, 8, 1 << 20);
  await fh.close();
  await fs.utimes(rootfs, st.atime, st.mtime);
  assert.equal((await fs.stat(rootfs)).size, st.size);
  assert.equal(await cache.lookup(rootfs), undefined, "a changed file has no remembered digest");
  const third = await push(data, tempDir("mvm-reg-"));
  assert.equal(third.code, 1);
  assert.match(third.stderr, /^error: rootfs\.ext4 of web\/\S+ changed since its checksum was recorded/m);
});

test("a damaged or foreign cache file is ignored, never trusted", async () => {
  const data = tempDir("mvm-digests-");
  const fx = await makeRevision(data, "web", { rootfsBytes: 1 << 20, rootfsDataBytes: 1 << 20 });
  const cache = DigestCache.of(new DataPaths(data));
  const kernel = join(fx.dir, "vmlinux");
  await fs.mkdir(join(data, "cache"), { recursive: true });
  await fs.writeFile(cache.file, "{not json");
  assert.equal(await cache.lookup(kernel), undefined);
  // An entry with the wrong identity (another inode) is not taken for this file.
  const st = await fs.stat(kernel, { bigint: true });
  await fs.writeFile(
    cache.file,
    JSON.stringify({
      [kernel]: {
        sha256: "0".repeat(64),
        dev: String(st.dev),
        ino: String(st.ino + 1n),
        size: String(st.size),
        mtime_ns: String(st.mtimeNs),
        ctime_ns: String(st.ctimeNs),
      },
    }),
  );
  assert.equal(await cache.lookup(kernel), undefined);
});
