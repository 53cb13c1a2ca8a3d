import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { freshOverlay } from "../../../src/hypervisor/qemu/overlay.js";
import { tempDir } from "../../helpers/cli.js";

// Fresh disk overlays over one image are made once and copied afterwards; a replaced image (another
// inode or modification time) gets a new one, and without a cache every start makes its own.

test("an overlay is made once per image and copied after; a changed image gets a new one", async () => {
  const root = tempDir("mvm-overlay-");
  const cache = join(root, "cache");
  const image = join(root, "rootfs.ext4");
  await fs.writeFile(image, "image v1");
  let made = 0;
  const make = (dest: string) => async () => {
    made++;
    await fs.writeFile(dest, `overlay of ${await fs.readFile(image, "utf8")}`);
  };
  for (const vm of ["a", "b", "c"]) {
    const dest = join(root, `${vm}.qcow2`);
    await freshOverlay(image, "raw", dest, cache, make(dest));
    assert.equal(await fs.readFile(dest, "utf8"), "overlay of image v1");
  }
  assert.equal(made, 1, "qemu-img ran once for three VMs");

  // The same bytes under a new inode are another image: a new overlay is made.
  await fs.rm(image);
  await fs.writeFile(image, "image v2");
  const d = join(root, "d.qcow2");
  await freshOverlay(image, "raw", d, cache, make(d));
  assert.equal(made, 2);
  assert.equal(await fs.readFile(d, "utf8"), "overlay of image v2");

  // Another backing format is another overlay; and no cache dir means no sharing.
  const e = join(root, "e.qcow2");
  await freshOverlay(image, "qcow2", e, cache, make(e));
  assert.equal(made, 3);
  const f = join(root, "f.qcow2");
  await freshOverlay(image, "raw", f, undefined, make(f));
  assert.equal(made, 4);
});
