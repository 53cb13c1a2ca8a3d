// The KVM probe behind `--hypervisor auto`: its guest is checked with the real binutils, and the
// backend's availability follows what the (fake) Firecracker does with it.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { probeKernel } from "../../../src/hypervisor/firecracker/probe.js";
import { fixture } from "./helpers.js";

const fx = fixture();
after(() => rmSync(fx.root, { recursive: true, force: true }));
const hasBinutils = existsSync("/usr/bin/readelf") && existsSync("/usr/bin/objdump");

test("the probe kernel is a loadable x86-64 ELF at 1 MiB whose entry resets through the i8042", {
  skip: hasBinutils ? false : "needs binutils (readelf, objdump)",
}, () => {
  const elf = join(fx.root, "probe.elf");
  writeFileSync(elf, probeKernel());
  const header = execFileSync("readelf", ["-h", "-l", "-W", elf], { encoding: "utf8" });
  assert.match(header, /Class:\s+ELF64/);
  assert.match(header, /Type:\s+EXEC/);
  assert.match(header, /Machine:\s+Advanced Micro Devices X86-64/);
  assert.match(header, /Entry point address:\s+0x100078/);
  assert.match(header, /LOAD\s+0x000000 0x0000000000100000 0x0000000000100000 0x00007f 0x00007f R E/);
  const code = execFileSync(
    "objdump",
    ["-D", "-b", "binary", "-m", "i386:x86-64", "--start-address=0x78", elf],
    { encoding: "utf8" },
  );
  assert.match(code, /mov\s+\$0xfe,%al/);
  assert.match(code, /out\s+%al,\$0x64/);
  assert.match(code, /hlt/);
});

test("auto-selection needs a test microVM to run: working, broken and hanging KVM", async (t) => {
  if (!existsSync("/dev/kvm")) return t.skip("no /dev/kvm: the probe is not reached");
  const probes = () => fx.requests().filter((r) => r.method === "CONFIG").length;
  assert.deepEqual(await fx.backend().available(), { ok: true });
  assert.equal(probes(), 1);
  assert.deepEqual(await fx.backend().available(), { ok: true });
  assert.equal(probes(), 1, "the answer is cached per Firecracker version and host kernel");
  assert.ok(readdirSync(fx.paths.vms).some((f) => f.startsWith(".fc-kvm-probe-1.12.1-")));
  assert.deepEqual(
    readdirSync(fx.paths.vms).filter((f) => !f.startsWith(".fc-kvm-probe-1.")),
    [],
    "nothing but the cached answer among the VM directories",
  );
  assert.equal(
    existsSync(join(tmpdir(), `mvm-fc-kvm-probe-${process.pid}`)),
    false,
    "its work files are gone",
  );

  const broken = await fx.backend({ env: { FAKE_FC_KVM: "broken", FAKE_FC_VERSION: "1.12.2" } }).available();
  assert.equal(broken.ok, false);
  assert.match(
    broken.reason ?? "",
    /^KVM does not work for Firecracker here: a test microVM failed \(exit 1\): Error creating the Kvm object/,
  );

  const hangs = await fx
    .backend({ env: { FAKE_FC_KVM: "hang", FAKE_FC_VERSION: "1.12.3" }, probeTimeoutMs: 500 })
    .available();
  assert.equal(hangs.ok, false);
  assert.match(hangs.reason ?? "", /a test microVM did not finish within 500 ms/);

  const forced = await fx
    .backend({ env: { FAKE_FC_KVM: "broken", FAKE_FC_VERSION: "1.12.4", MVM_FIRECRACKER_SKIP_PROBE: "1" } })
    .available();
  assert.deepEqual(forced, { ok: true }, "MVM_FIRECRACKER_SKIP_PROBE=1 trusts /dev/kvm without a test run");
});
