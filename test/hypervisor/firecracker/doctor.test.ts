// `mvmctl doctor`'s Firecracker lines, checked against the fake binary and real paths.

import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import type { DoctorCheck } from "../../../src/doctor/check.js";
import { firecrackerChecks } from "../../../src/hypervisor/firecracker/doctor.js";
import { FAKE_SCRIPT, fixture } from "./helpers.js";

const fx = fixture();
after(() => rmSync(fx.root, { recursive: true, force: true }));

const fakeEnv = (extra: Record<string, string> = {}) => ({
  ...process.env,
  MVM_FIRECRACKER_BIN: fx.bin,
  FAKE_FC_NODE: process.execPath,
  FAKE_FC_SCRIPT: FAKE_SCRIPT,
  ...extra,
});

const byName = (checks: DoctorCheck[]) => new Map(checks.map((c) => [c.name, c]));

test("a working binary reports its path and version", async () => {
  const kvm = join(fx.root, "kvm-ok");
  writeFileSync(kvm, "");
  const checks = byName(await firecrackerChecks({ env: fakeEnv(), kvmPath: kvm }));
  assert.deepEqual(checks.get("firecracker"), { name: "firecracker", status: "ok", detail: fx.bin });
  assert.deepEqual(checks.get("firecracker version"), {
    name: "firecracker version",
    status: "ok",
    detail: "v1.12.1",
  });
  assert.equal(checks.get("firecracker /dev/kvm")?.status, "ok");
  assert.deepEqual(checks.get("firecracker microVM"), {
    name: "firecracker microVM",
    status: "ok",
    detail: "a test microVM booted and reset",
  });
  assert.ok(checks.has("firecracker networking"));
});

test("a KVM that does not work fails the microVM line with Firecracker's reason", async () => {
  const kvm = join(fx.root, "kvm-ok2");
  writeFileSync(kvm, "");
  const checks = byName(await firecrackerChecks({ env: fakeEnv({ FAKE_FC_KVM: "broken" }), kvmPath: kvm }));
  const m = checks.get("firecracker microVM");
  assert.equal(m?.status, "fail");
  assert.match(m?.detail ?? "", /Error creating the Kvm object/);
  assert.match(m?.fix ?? "", /dmesg/);
});

test("an old version warns about restore networking, with the fix", async () => {
  const checks = byName(await firecrackerChecks({ env: fakeEnv({ FAKE_FC_VERSION: "1.10.1" }) }));
  const v = checks.get("firecracker version");
  assert.equal(v?.status, "warn");
  assert.match(v?.detail ?? "", /v1\.10\.1: restored VMs cannot be given their own TAP/);
  assert.match(v?.fix ?? "", /MVM_FIRECRACKER_NETWORK=none/);
});

test("no /dev/kvm fails when Firecracker is installed, and says how to fix it", async () => {
  const checks = byName(await firecrackerChecks({ env: fakeEnv(), kvmPath: join(fx.root, "no-kvm") }));
  const k = checks.get("firecracker /dev/kvm");
  assert.equal(k?.status, "fail");
  assert.match(k?.detail ?? "", /does not exist: Firecracker needs KVM/);
  assert.match(k?.fix ?? "", /virtualisation/);
});

test("no binary is a warning (QEMU still works); a wrong MVM_FIRECRACKER_BIN is a failure", async () => {
  const none = byName(
    await firecrackerChecks({ env: { PATH: "/nonexistent" }, kvmPath: join(fx.root, "no-kvm") }),
  );
  assert.equal(none.get("firecracker")?.status, "warn");
  assert.match(none.get("firecracker")?.fix ?? "", /firecracker-microvm\/firecracker\/releases/);
  assert.equal(none.get("firecracker /dev/kvm")?.status, "warn");
  assert.equal(none.has("firecracker version"), false);
  const wrong = byName(await firecrackerChecks({ env: { MVM_FIRECRACKER_BIN: join(fx.root, "vmlinux") } }));
  assert.equal(wrong.get("firecracker")?.status, "fail");
  assert.match(wrong.get("firecracker")?.detail ?? "", /is not an executable file/);
});

test("a binary whose --version fails is a failure naming what it printed", async () => {
  const broken = join(fx.root, "broken-firecracker");
  writeFileSync(broken, "#!/bin/sh\necho 'error while loading shared libraries: libc.so' >&2\nexit 127\n", {
    mode: 0o755,
  });
  const checks = byName(await firecrackerChecks({ env: { ...process.env, MVM_FIRECRACKER_BIN: broken } }));
  const v = checks.get("firecracker version");
  assert.equal(v?.status, "fail");
  assert.match(v?.detail ?? "", /--version failed: error while loading shared libraries/);
});
