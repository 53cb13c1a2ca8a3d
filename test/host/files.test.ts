import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { chmod, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { cachedSha256, sha256File } from "../../src/host/file-hash.js";
import { copyShared, digHoles, moveFile, sparseCopy } from "../../src/host/files.js";
import { scratch, sha256 } from "../helpers/scratch.js";

const MIB = 1024 * 1024;

/** 8 MiB of zeros with a little data at both ends and in the middle. */
function mostlyEmpty(): Buffer {
  const data = Buffer.alloc(8 * MIB);
  data.write("head", 0);
  data.write("tail", data.length - 10);
  data.write("middle", 3 * MIB + 5);
  return data;
}

const allocated = (path: string): number => statSync(path).blocks * 512;

test("sparse copy: same bytes, zero runs become holes", async () => {
  const dir = scratch("mvm-sparse-");
  const src = join(dir, "src.img");
  const data = mostlyEmpty();
  writeFileSync(src, data);
  const dst = join(dir, "dst.img");
  await sparseCopy(src, dst);
  assert.deepEqual(readFileSync(dst), data);
  assert.equal(statSync(dst).size, data.length);
  assert.ok(allocated(dst) <= 3 * 64 * 1024, `allocated ${allocated(dst)}`);
});

test("a shared copy keeps the source's private permission bits, its bytes and its holes", async () => {
  const dir = scratch("mvm-shared-copy-");
  const src = join(dir, "mem.bin");
  const data = mostlyEmpty();
  writeFileSync(src, data);
  await chmod(src, 0o600);
  const dst = join(dir, "copy.bin");
  await copyShared(src, dst);
  assert.equal(statSync(dst).mode & 0o777, 0o600);
  assert.deepEqual(readFileSync(dst), data);
  assert.ok(allocated(dst) <= 3 * 64 * 1024, `allocated ${allocated(dst)}`);
  await assert.rejects(copyShared(src, dst), { code: "EEXIST" });
});

test("moving a file to another filesystem leaves the target whole and sparse, and the source gone", async (t) => {
  let shm: string;
  try {
    shm = mkdtempSync("/dev/shm/mvm-move-");
  } catch {
    t.skip("no /dev/shm on this host");
    return;
  }
  t.after(() => rmSync(shm, { recursive: true, force: true }));
  const dir = scratch("mvm-move-");
  if (statSync(shm).dev === statSync(dir).dev) {
    t.skip("/dev/shm and the scratch dir are one filesystem here");
    return;
  }
  const from = join(shm, "disk.qcow2");
  const data = mostlyEmpty();
  writeFileSync(from, data);
  const to = join(dir, "disk.qcow2");
  await moveFile(from, to);
  assert.deepEqual(readFileSync(to), data);
  assert.ok(allocated(to) <= 3 * 64 * 1024, `allocated ${allocated(to)}`);
  assert.throws(() => statSync(from), { code: "ENOENT" });
});

test("digging holes frees the zero runs of a file and keeps its bytes", async () => {
  const dir = scratch("mvm-dig-");
  const file = join(dir, "mem.bin");
  const data = mostlyEmpty();
  writeFileSync(file, data);
  assert.ok(allocated(file) >= data.length, "written dense");
  assert.equal(await digHoles(file), true);
  assert.deepEqual(readFileSync(file), data);
  assert.ok(allocated(file) <= 3 * 64 * 1024, `allocated ${allocated(file)}`);
  assert.equal(await digHoles(join(dir, "missing")), false);
});

test("a cached hash is recomputed once the file is replaced by rename", async () => {
  const dir = scratch("mvm-hash-");
  const file = join(dir, "rootfs.ext4");
  writeFileSync(file, "first");
  const first = await cachedSha256(file);
  assert.equal(first, sha256(file));
  assert.equal(await cachedSha256(file), first);
  const next = join(dir, "next");
  await writeFile(next, "second, longer");
  await rename(next, file);
  assert.equal(await cachedSha256(file), await sha256File(file));
  assert.notEqual(await cachedSha256(file), first);
  await assert.rejects(cachedSha256(join(dir, "missing")), { code: "ENOENT" });
});
