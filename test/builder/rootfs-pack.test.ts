import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  linkSync,
  lutimesSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { packRootfs } from "../../src/builder/rootfs-pack.js";
import { MvmError } from "../../src/core/errors.js";

// packRootfs with the real mke2fs/debugfs/e2fsck: identical trees give identical images whatever
// their owners, timestamps and creation order; the image is valid, root-owned, sparse, roomy.

const work = mkdtempSync(join(tmpdir(), "mvm-pack-"));
after(async () => {
  await rm(work, { recursive: true, force: true });
});

const FILES: Array<[string, string]> = [
  ["etc/hostname", "demo\n"],
  ["srv/name with spaces.txt", "spaces\n"],
  ["srv/quote'\"$x.txt", "quotes\n"],
  ["srv/ünïcødé.txt", "unicode\n"],
  ["bin/tool", "#!/bin/sh\necho hi\n"],
  ...Array.from({ length: 40 }, (_, i): [string, string] => [
    `data/file-${i}`,
    `content ${i}\n`.repeat(i * 50),
  ]),
];

function makeTree(dir: string, reverse: boolean, uid: number, mtime: number): void {
  const files = reverse ? [...FILES].reverse() : FILES;
  for (const [rel, text] of files) {
    mkdirSync(join(dir, rel, ".."), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  chmodSync(join(dir, "bin/tool"), 0o755);
  symlinkSync("../etc/hostname", join(dir, "bin/link"));
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      chownSync(p, uid, uid);
      lutimesSync(p, mtime, mtime);
      if (statSync(p).isDirectory() && !n.startsWith("link")) walk(p);
    }
  };
  walk(dir);
}

function debugfs(img: string, cmd: string): string {
  return spawnSync("debugfs", ["-R", cmd, img], { encoding: "utf8" }).stdout;
}

test("identical trees pack to byte-identical, valid, root-owned, sparse images with free space", async () => {
  const a = join(work, "a");
  const b = join(work, "b");
  makeTree(a, false, 0, 1_000_000);
  makeTree(b, true, 1234, 1_700_000_000);
  const ia = join(work, "a.ext4");
  const ib = join(work, "b.ext4");
  const ra = await packRootfs(a, ia, { freeBytes: 64 * 1024 * 1024 });
  await packRootfs(b, ib, { freeBytes: 64 * 1024 * 1024 });
  assert.equal(spawnSync("cmp", [ia, ib]).status, 0, "images differ");

  const fsck = spawnSync("e2fsck", ["-fn", ia], { encoding: "utf8" });
  assert.equal(fsck.status, 0, fsck.stdout + fsck.stderr);
  const st = debugfs(ia, "stat /srv");
  assert.match(st, /User:\s+0\s+Group:\s+0/);
  assert.match(st, /mtime: 0x00000001/);
  assert.equal(debugfs(ia, 'cat "/srv/name with spaces.txt"'), "spaces\n");
  assert.match(debugfs(ia, "stat /bin/tool"), /Mode:\s+0755/);
  assert.match(debugfs(ia, "stat /bin/link"), /Fast link dest: "\.\.\/etc\/hostname"/);

  const s = statSync(ia);
  assert.equal(s.size, ra.sizeBytes);
  assert.ok(s.blocks * 512 < s.size / 4, `sparse: ${s.blocks * 512} allocated of ${s.size}`);
  const dump = spawnSync("dumpe2fs", ["-h", ia], { encoding: "utf8" }).stdout;
  const freeBlocks = Number(/^Free blocks:\s+(\d+)/m.exec(dump)?.[1]);
  assert.ok(freeBlocks * 4096 >= 64 * 1024 * 1024, `free space ${freeBlocks * 4096}`);
  assert.match(dump, /Filesystem UUID:\s+6d766d00-7266-4000-8000-000000000001/);
});

test("hard links in the tree (an optimised Nix store) do not change the image", async () => {
  const plain = join(work, "plain");
  const linked = join(work, "linked");
  for (const d of [plain, linked]) {
    mkdirSync(join(d, "x"), { recursive: true });
    writeFileSync(join(d, "x", "one"), "same bytes\n");
  }
  writeFileSync(join(plain, "x", "two"), "same bytes\n");
  linkSync(join(linked, "x", "one"), join(linked, "x", "two"));
  await packRootfs(plain, join(work, "plain.ext4"));
  await packRootfs(linked, join(work, "linked.ext4"));
  assert.equal(spawnSync("cmp", [join(work, "plain.ext4"), join(work, "linked.ext4")]).status, 0);
  assert.match(debugfs(join(work, "linked.ext4"), "stat /x/two"), /Links: 1/);
  assert.deepEqual(
    readdirSync(work).filter((n) => n.startsWith(".")),
    [],
    "no staging copies left",
  );
});

test("a missing tree fails cleanly and leaves nothing behind", async () => {
  const out = join(work, "out", "x.ext4");
  mkdirSync(join(work, "out"));
  await assert.rejects(
    packRootfs(join(work, "nope"), out),
    (e: unknown) => e instanceof MvmError && /not a directory/.test(e.message),
  );
  assert.equal(existsSync(out), false);
  assert.deepEqual(readdirSync(join(work, "out")), []);
});
