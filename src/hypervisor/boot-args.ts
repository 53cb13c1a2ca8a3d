import { readFileSync } from "node:fs";

// Kernel command line for the kit's kernel (Debian cloud) under QEMU microvm or Firecracker.

/**
 * The host's TSC rate in kHz. Under TCG the guest TSC runs at the host's rate; the guest kernel
 * normally calibrates it against the PIT, which fails on a busy host ("tsc: Unable to calibrate
 * against PIT") and leaves the boot hung with no timer. Passing the rate avoids the calibration.
 */
export function hostTscKhz(cpuinfo?: string): number | undefined {
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = readFileSync("/proc/cpuinfo", "utf8");
    } catch {
      return undefined;
    }
  }
  const m = /^cpu MHz\s*:\s*([\d.]+)/m.exec(text);
  const khz = m?.[1] ? Math.round(Number(m[1]) * 1000) : Number.NaN;
  return Number.isFinite(khz) && khz > 0 ? khz : undefined;
}

/**
 * `mvm.clock=<seconds since 1970>`: the host's wall clock as the VM starts. A guest without a
 * clock source of its own (QEMU microvm without an RTC, under TCG) would otherwise start in 1970;
 * the kit's initramfs sets the clock from it plus the guest's uptime, and only ever forwards.
 */
export function hostClockArg(nowMs: number = Date.now()): string {
  return `mvm.clock=${Math.floor(nowMs / 1000)}`;
}

export interface KernelArgsOptions {
  /** Software emulation (no KVM): add tsc_early_khz. */
  tcg: boolean;
  /** Static network for the guest's PID 1 (mvm.ip=ADDR/PREFIX, mvm.gw=ADDR); DHCP otherwise. */
  ip?: string;
  gateway?: string;
  quiet?: boolean;
  /** Hand the guest the host's wall clock (hostClockArg). */
  clock?: boolean;
}

export function kitKernelArgs(opts: KernelArgsOptions): string[] {
  const args = ["console=ttyS0", "panic=-1"];
  if (opts.quiet !== false) args.push("quiet");
  if (opts.tcg) {
    const khz = hostTscKhz();
    if (khz) args.push(`tsc_early_khz=${khz}`);
  }
  if (opts.clock) args.push(hostClockArg());
  if (opts.ip) args.push(`mvm.ip=${opts.ip}`);
  if (opts.gateway) args.push(`mvm.gw=${opts.gateway}`);
  return args;
}
