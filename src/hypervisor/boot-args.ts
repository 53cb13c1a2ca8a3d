import { hostTscKhz } from "../host/cpu.js";

// The guest kernel's command line, in two parts. The template's part (a backend's fixed words plus the
// template's own) is recorded in a snapshot's fingerprint and must match for a restore. The host's
// part (timer tuning, the wall clock, the VM's address) differs per host or per VM and is not.

/** A backend's fixed words followed by the template's extra words. */
export function templateKernelArgs(fixed: readonly string[], extra?: string): string {
  return [...fixed, extra?.trim() ?? ""].filter((w) => w !== "").join(" ");
}

export interface HostArgsOptions {
  /**
   * Software emulation (no KVM): under TCG the guest TSC runs at the host's rate, and a guest kernel
   * that calibrates it against the PIT on a busy host fails ("tsc: Unable to calibrate against PIT")
   * and hangs with no timer. Passing the rate (tsc_early_khz) avoids the calibration.
   */
  tcg?: boolean;
  /** Hand the guest the host's wall clock (hostClockArg). */
  clock?: boolean;
  /** Static network for the guest's PID 1 (mvm.ip=ADDR/PREFIX, mvm.gw=ADDR); DHCP otherwise. */
  ip?: string;
  gateway?: string;
}

/**
 * `mvm.clock=<seconds since 1970>`: the host's wall clock as the VM starts. A guest without a clock
 * source of its own (QEMU microvm without an RTC, under TCG) would otherwise start in 1970; the kit's
 * initramfs sets the clock from it plus the guest's uptime, and only ever forwards.
 */
export function hostClockArg(nowMs: number = Date.now()): string {
  return `mvm.clock=${Math.floor(nowMs / 1000)}`;
}

/** The host's words, in a fixed order. */
export function hostKernelArgs(opts: HostArgsOptions): string[] {
  const args: string[] = [];
  if (opts.tcg) {
    const khz = hostTscKhz();
    if (khz) args.push(`tsc_early_khz=${khz}`);
  }
  if (opts.clock) args.push(hostClockArg());
  if (opts.ip) args.push(`mvm.ip=${opts.ip}`);
  if (opts.gateway) args.push(`mvm.gw=${opts.gateway}`);
  return args;
}

/** The whole command line: the template's part, then the host's. */
export function kernelCommandLine(template: string, host: readonly string[]): string {
  return [template, ...host].filter((w) => w !== "").join(" ");
}
