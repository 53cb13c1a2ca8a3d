import assert from "node:assert/strict";
import { accessSync, constants, chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { hostProbeKernel, probeKvm } from "../../../src/hypervisor/qemu/kvm-probe.js";
import { QemuBackend } from "../../../src/hypervisor/qemu/backend.js";
import { tempDir } from "../../helpers/cli.js";

// The KVM probe decides between KVM and TCG for every QEMU guest. The failure it must catch — a nested
// KVM on which a Linux guest prints its real-mode banner and then hangs — cannot be produced on demand,
// so these tests put small scripts in QEMU's place that behave like each kind of host: the stand-ins
// answer `--version` like QEMU and then print what a guest's serial console would.

function standIn(dir: string, name: string, guest: string): string {
  const file = join(dir, name);
  writeFileSync(
    file,
    [
      "#!/bin/sh",
      'if [ "$1" = "--version" ]; then echo "QEMU emulator version 7.2.0 (stand-in)"; exit 0; fi',
      guest,
      "",
    ].join("\n"),
  );
  chmodSync(file, 0o755);
  return file;
}

const HANGS_AFTER_BANNER = 'echo "Probing EDD (edd=off to disable)... ok"; exec sleep 30';
const BOOTS =
  'echo "Probing EDD (edd=off to disable)... ok"; echo "[    0.000000] Linux version 6.1.0"; exec sleep 30';
const ABORTS = 'echo "qemu-system-x86_64: error: failed to set MSR 0x48e" >&2; exit 1';

function kvmOpenable(): boolean {
  try {
    accessSync("/dev/kvm", constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

describe("KVM probe", () => {
  test("a guest that hangs after its real-mode banner is not KVM-capable; one that boots is", async () => {
    const dir = tempDir("mvm-kvm-probe-");
    const kernel = join(dir, "vmlinuz-probe");
    writeFileSync(kernel, "not read by the stand-ins");
    const common = { machine: "microvm", kernel, timeoutMs: 1500 };
    assert.equal(await probeKvm({ ...common, qemu: standIn(dir, "hangs", HANGS_AFTER_BANNER) }), false);
    assert.equal(await probeKvm({ ...common, qemu: standIn(dir, "boots", BOOTS) }), true);
    assert.equal(await probeKvm({ ...common, qemu: standIn(dir, "aborts", ABORTS) }), false);
    assert.equal(await probeKvm({ ...common, qemu: join(dir, "no-such-qemu") }), false);
  });

  test("the backend runs guests under TCG on a host whose KVM guests hang, and remembers the answer", {
    skip: kvmOpenable() ? false : "/dev/kvm cannot be opened here: the probe is not reached",
  }, async () => {
    const dir = tempDir("mvm-kvm-backend-");
    const kernel = join(dir, "vmlinuz-probe");
    writeFileSync(kernel, "not read by the stand-ins");
    const env = { PATH: process.env.PATH };
    const hanging = new QemuBackend({
      binary: standIn(dir, "hangs", HANGS_AFTER_BANNER),
      env,
      cacheDir: dir,
    });
    assert.equal(await hanging.accel(kernel), "tcg");
    const booting = new QemuBackend({ binary: standIn(dir, "boots", BOOTS), env, cacheDir: join(dir, "b") });
    assert.equal(await booting.accel(kernel), "kvm");
    // A second backend on the same cache directory reads the answer instead of probing again, even
    // though its QEMU now boots: the answer belongs to this QEMU version and host kernel.
    const again = new QemuBackend({ binary: standIn(dir, "boots2", BOOTS), env, cacheDir: dir });
    assert.equal(await again.accel(kernel), "tcg");
  });

  test("the probe kernel is a host kernel image from the boot directory", () => {
    const dir = tempDir("mvm-kvm-boot-");
    assert.equal(hostProbeKernel(dir), undefined);
    writeFileSync(join(dir, "config-6.1.0"), "");
    writeFileSync(join(dir, "vmlinuz-6.1.0-57-cloud-amd64"), "");
    assert.equal(hostProbeKernel(dir), join(dir, "vmlinuz-6.1.0-57-cloud-amd64"));
    assert.equal(hostProbeKernel(join(dir, "missing")), undefined);
  });
});
