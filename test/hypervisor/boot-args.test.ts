import assert from "node:assert/strict";
import { test } from "node:test";
import { hostCpuModel, hostTscKhz } from "../../src/host/cpu.js";
import { hostKernelArgs, kernelCommandLine, templateKernelArgs } from "../../src/hypervisor/boot-args.js";

test("host kernel words: TCG gets the host TSC rate, then the clock and the static network, in order", () => {
  assert.equal(hostTscKhz("processor\t: 0\ncpu MHz\t\t: 1996.249\n"), 1996249);
  assert.equal(hostTscKhz("processor\t: 0\n"), undefined);
  assert.equal(hostCpuModel("model name\t: Example CPU @ 2.00GHz\n"), "Example CPU @ 2.00GHz");
  assert.equal(hostCpuModel(""), "unknown");
  assert.deepEqual(hostKernelArgs({ ip: "10.0.2.15/24", gateway: "10.0.2.2" }), [
    "mvm.ip=10.0.2.15/24",
    "mvm.gw=10.0.2.2",
  ]);
  const all = hostKernelArgs({ tcg: true, clock: true, ip: "10.0.2.15/24" });
  assert.match(all.at(-2) ?? "", /^mvm\.clock=\d+$/);
  assert.equal(all.at(-1), "mvm.ip=10.0.2.15/24");
  if (hostTscKhz() !== undefined) assert.match(all[0] ?? "", /^tsc_early_khz=\d+$/);
});

test("the template's words come first and are the same on every host", () => {
  assert.equal(templateKernelArgs(["console=ttyS0", "panic=-1"], "  quiet "), "console=ttyS0 panic=-1 quiet");
  assert.equal(templateKernelArgs(["console=ttyS0"]), "console=ttyS0");
  assert.equal(kernelCommandLine("console=ttyS0", ["mvm.clock=1"]), "console=ttyS0 mvm.clock=1");
  assert.equal(kernelCommandLine("console=ttyS0", []), "console=ttyS0");
});
