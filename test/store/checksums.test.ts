import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { checksumsAfter, writeChecksums } from "../../src/store/checksums.js";
import { scratch, sha256 } from "../helpers/scratch.js";

// The checksums of a revision directory, written by a build and recomputed before a snapshot swaps
// files in: every present artifact listed with the digest of its bytes, whichever thread hashed it.

const MIB = 1 << 20;

/** A revision directory whose rootfs and memory image are large enough to be hashed side by side. */
function revisionDir(): string {
  const dir = scratch("mvm-checksums-");
  mkdirSync(join(dir, "snapshot"));
  writeFileSync(join(dir, "vmlinux"), randomBytes(300_000));
  writeFileSync(join(dir, "rootfs.ext4"), randomBytes(2 * MIB));
  truncateSync(join(dir, "rootfs.ext4"), 80 * MIB);
  writeFileSync(join(dir, "snapshot/mem.bin"), randomBytes(MIB));
  truncateSync(join(dir, "snapshot/mem.bin"), 48 * MIB);
  writeFileSync(join(dir, "snapshot/vmstate.bin"), randomBytes(50_000));
  writeFileSync(join(dir, "revision.json"), "{}\n");
  writeFileSync(join(dir, "not-an-artifact"), "x");
  return dir;
}

test("writeChecksums lists every artifact present with its SHA-256, and nothing else", async () => {
  const dir = revisionDir();
  const sums = await writeChecksums(dir, "web", "rev1");
  const names = ["revision.json", "rootfs.ext4", "snapshot/mem.bin", "snapshot/vmstate.bin", "vmlinux"];
  assert.deepEqual(Object.keys(sums.files).sort(), names);
  for (const n of names) assert.equal(sums.files[n], sha256(join(dir, n)), n);
});

test("checksumsAfter: replacements override, the dropped prefix goes, revision.json is the given text", async () => {
  const dir = revisionDir();
  const staged = scratch("mvm-checksums-staged-");
  writeFileSync(join(staged, "mem.bin"), randomBytes(MIB));
  truncateSync(join(staged, "mem.bin"), 64 * MIB);
  writeFileSync(join(staged, "vmstate.bin"), randomBytes(40_000));
  const revisionJson = '{"snapshot":{}}\n';
  const sums = await checksumsAfter(
    dir,
    "web",
    "rev1",
    { "snapshot/mem.bin": join(staged, "mem.bin"), "snapshot/vmstate.bin": join(staged, "vmstate.bin") },
    revisionJson,
    "snapshot/",
  );
  assert.deepEqual(sums.files, {
    "rootfs.ext4": sha256(join(dir, "rootfs.ext4")),
    vmlinux: sha256(join(dir, "vmlinux")),
    "snapshot/mem.bin": sha256(join(staged, "mem.bin")),
    "snapshot/vmstate.bin": sha256(join(staged, "vmstate.bin")),
    "revision.json": createHash("sha256").update(revisionJson).digest("hex"),
  });
});
