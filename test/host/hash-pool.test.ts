import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { test } from "node:test";
import { sha256File } from "../../src/host/file-hash.js";
import { hashFiles, hashThreadLimit, sha256Files, threadsFor } from "../../src/host/hash-pool.js";
import { scratch } from "../helpers/scratch.js";

const MIB = 1 << 20;

/** What coreutils' sha256sum says: a digest computed by another program than ours. */
function sha256sum(path: string): string {
  const r = spawnSync("sha256sum", ["--", path], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.slice(0, 64);
}

/** A sparse file of `size` bytes with random data in a few places, unaligned. */
async function sparseFile(path: string, size: number): Promise<void> {
  const fh = await open(path, "w");
  try {
    await fh.truncate(size);
    for (const at of [4097, Math.floor(size / 3) + 123, size - 70_000])
      await fh.write(randomBytes(65_000), 0, 65_000, at);
  } finally {
    await fh.close();
  }
}

/** A dense file, a sparse one, an empty one and a small one: a revision's kinds of file. */
async function revisionLikeFiles(dir: string): Promise<string[]> {
  const dense = join(dir, "rootfs.ext4");
  writeFileSync(dense, randomBytes(24 * MIB + 17));
  const sparse = join(dir, "mem.bin");
  await sparseFile(sparse, 48 * MIB);
  const empty = join(dir, "empty");
  writeFileSync(empty, "");
  const small = join(dir, "vmstate.bin");
  writeFileSync(small, randomBytes(100_000));
  return [small, dense, empty, sparse];
}

test("several threads give the digests sha256sum gives, in the order asked, for dense, sparse and empty files", async () => {
  const files = await revisionLikeFiles(scratch("mvm-hashpool-"));
  const parallel = await hashFiles(files, { threads: 2, parallelFrom: 0 });
  assert.equal(parallel.threads, 2);
  assert.deepEqual(parallel.digests, files.map(sha256sum));
  const oneByOne = await hashFiles(files, { threads: 1 });
  assert.equal(oneByOne.threads, 1);
  assert.deepEqual(oneByOne.digests, parallel.digests);
  // More threads than files: one per file at most.
  const wide = await hashFiles(files, { threads: 8, parallelFrom: 0 });
  assert.equal(wide.threads, 4);
  assert.deepEqual(wide.digests, parallel.digests);
});

test("the same file listed twice, and a single file, hash like sha256sum", async () => {
  const [small, dense] = await revisionLikeFiles(scratch("mvm-hashpool-twice-"));
  assert.deepEqual(await sha256Files([dense!, dense!, small!], { threads: 2, parallelFrom: 0 }), [
    sha256sum(dense!),
    sha256sum(dense!),
    sha256sum(small!),
  ]);
  assert.deepEqual(await sha256Files([dense!], { threads: 2, parallelFrom: 0 }), [sha256sum(dense!)]);
  assert.deepEqual(await sha256Files([], { threads: 2, parallelFrom: 0 }), []);
});

test("a missing file fails with the same ENOENT error whether one thread or several hash", async () => {
  const dir = scratch("mvm-hashpool-missing-");
  const files = await revisionLikeFiles(dir);
  const missing = join(dir, "snapshot-gone.bin");
  const expected = {
    code: "ENOENT",
    syscall: "open",
    path: missing,
    message: /no such file.*snapshot-gone\.bin/,
  };
  await assert.rejects(sha256Files([...files, missing], { threads: 1 }), expected);
  await assert.rejects(sha256Files([...files, missing], { threads: 2, parallelFrom: 0 }), expected);
  await assert.rejects(sha256File(missing), expected);
});

test("a file that cannot be read as one (a directory) fails with EISDIR from a worker thread", async () => {
  const dir = scratch("mvm-hashpool-dir-");
  const files = await revisionLikeFiles(dir);
  const sub = join(dir, "not-a-file");
  mkdirSync(sub);
  // The directory is the smallest entry, so a worker thread (not the main one) gets it.
  await assert.rejects(sha256Files([...files, sub], { threads: 4, parallelFrom: 0 }), {
    code: "EISDIR",
    message: /illegal operation on a directory/,
  });
});

test("a hashing thread that dies becomes an error naming the file, and nothing is left running", async () => {
  const dir = scratch("mvm-hashpool-crash-");
  const files = await revisionLikeFiles(dir);
  const exits = join(dir, "exits.mjs");
  writeFileSync(
    exits,
    'import { parentPort } from "node:worker_threads";\nparentPort.on("message", () => process.exit(3));\n',
  );
  const throws = join(dir, "throws.mjs");
  writeFileSync(
    throws,
    'import { parentPort } from "node:worker_threads";\nparentPort.on("message", () => { throw new Error("boom"); });\n',
  );
  // Two threads: the main one takes the largest file (the sparse mem.bin), the worker the next one.
  const opts = { threads: 2, parallelFrom: 0 };
  await assert.rejects(sha256Files(files, { ...opts, workerScript: pathToFileURL(exits) }), {
    name: "MvmError",
    message: `could not hash ${files[1]}: its hashing thread stopped (exit code 3)`,
  });
  await assert.rejects(sha256Files(files, { ...opts, workerScript: pathToFileURL(throws) }), {
    name: "MvmError",
    message: `could not hash ${files[1]}: its hashing thread stopped (boom)`,
  });
  const absent = pathToFileURL(join(dir, "no-such-worker.mjs"));
  await assert.rejects(sha256Files(files, { ...opts, workerScript: absent }), {
    name: "MvmError",
    message: new RegExp(`^could not hash ${files[1]}: its hashing thread stopped \\(Cannot find module`),
  });
});

test("MVM_HASH_THREADS bounds the threads; anything but a whole number from 1 to 64 is a usage error", () => {
  assert.equal(hashThreadLimit({}), availableParallelism());
  assert.equal(hashThreadLimit({ MVM_HASH_THREADS: "" }), availableParallelism());
  assert.equal(hashThreadLimit({ MVM_HASH_THREADS: "1" }), 1);
  assert.equal(hashThreadLimit({ MVM_HASH_THREADS: " 3 " }), 3);
  for (const bad of ["0", "65", "-1", "1.5", "two", "2x", "\u001b[31m"])
    assert.throws(() => hashThreadLimit({ MVM_HASH_THREADS: bad }), {
      name: "MvmError",
      kind: "usage",
      message: /^MVM_HASH_THREADS must be a whole number from 1 to 64, got "/,
    });
});

test("a second thread only starts when enough bytes lie beside the largest file", () => {
  const big = 1024 * MIB;
  assert.equal(threadsFor([big], 2), 1);
  assert.equal(threadsFor([], 2), 1);
  assert.equal(threadsFor([big, 256 * MIB], 1), 1);
  assert.equal(threadsFor([big, 256 * MIB], 2), 2);
  assert.equal(threadsFor([big, 256 * MIB, 8 * MIB, 4096], 8), 4);
  // A large rootfs beside a kernel and an initrd: nothing worth a second thread.
  assert.equal(threadsFor([big, 12 * MIB, 4 * MIB, 4096], 2), 1);
  assert.equal(threadsFor([MIB, MIB], 2, 0), 2);
});
