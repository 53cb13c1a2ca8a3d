import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { buildFlakeImage } from "../helpers/fixtures.js";
import { bootQemu, type TestVm } from "../helpers/qemu-boot.js";

// kernelFormat = "vmlinux": the output carries the kit's ELF kernel (what Firecracker needs); QEMU
// boots the same file through PVH, which shows it is a complete, bootable kernel.

const work = mkdtempSync(join(tmpdir(), "mvm-boot-vmlinux-"));
let vm: TestVm | undefined;

after(async () => {
  await vm?.stop();
  await rm(work, { recursive: true, force: true });
});

test("a vmlinux-format guest boots (PVH) and its agent answers", async () => {
  const flakeDir = join(work, "flake");
  mkdirSync(flakeDir);
  writeFileSync(
    join(flakeDir, "flake.nix"),
    `{
  inputs.mvm.url = "path:/nonexistent/mvm";
  inputs.mvm-kit.url = "path:/nonexistent/kit";
  inputs.mvm-kit.flake = false;
  outputs = { self, mvm, mvm-kit, ... }: {
    packages.x86_64-linux.default = mvm.lib.mkGuest { kit = mvm-kit; name = "elf"; kernelFormat = "vmlinux"; };
  };
}
`,
  );
  const image = await buildFlakeImage(flakeDir);
  const kernel = readFileSync(image.kernel);
  assert.deepEqual(
    [...kernel.subarray(0, 4)],
    [0x7f, 0x45, 0x4c, 0x46],
    "the image's kernel is the ELF vmlinux",
  );
  vm = await bootQemu({ image, workDir: join(work, "vm") });
  const ch = await vm.channel(180_000);
  try {
    assert.equal((await ch.ping()).hostname, "elf");
    assert.equal((await ch.health()).ready, true, "no checks: ready");
  } finally {
    ch.close();
  }
});
