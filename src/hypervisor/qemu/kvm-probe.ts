import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";

// Whether QEMU can really run a guest with KVM on this host. `/dev/kvm` can exist and open and a guest
// can even stay "running" while getting nowhere: under some nested hypervisors a Linux guest prints its
// real-mode banner and then hangs for ever. So the probe boots a real Linux kernel under KVM and waits
// for the kernel's first printk ("Linux version …"), which a working KVM guest prints well under a
// second after start. Anything else (an abort, an exit, silence until the deadline) means TCG.

/** How long the probe guest may take to print its first kernel line. */
export const KVM_PROBE_TIMEOUT_MS = 6000;
const KERNEL_BANNER = "Linux version";
const MAX_PROBE_OUTPUT = 64 * 1024;

/** A Linux kernel image on this host that the probe can boot (Debian keeps them in /boot). */
export function hostProbeKernel(bootDir = "/boot"): string | undefined {
  let names: string[];
  try {
    names = readdirSync(bootDir);
  } catch {
    return undefined;
  }
  const kernel = names.filter((n) => n.startsWith("vmlinuz-")).sort()[0];
  return kernel ? join(bootDir, kernel) : undefined;
}

export interface KvmProbeOptions {
  qemu: string;
  machine: string;
  /** The kernel to boot; without one, QEMU merely has to keep running (a weaker check). */
  kernel?: string;
  timeoutMs?: number;
}

/** Boots the probe guest under KVM and says whether it got as far as the kernel's first line. */
export function probeKvm(o: KvmProbeOptions): Promise<boolean> {
  const timeoutMs = o.timeoutMs ?? KVM_PROBE_TIMEOUT_MS;
  const args = ["-accel", "kvm", "-cpu", "host", "-M", o.machine, "-m", "128", "-smp", "1"];
  args.push("-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none");
  if (o.kernel) {
    args.push("-serial", "stdio", "-kernel", o.kernel);
    args.push("-append", "console=ttyS0 earlyprintk=serial,ttyS0,115200 panic=-1");
  } else {
    args.push("-serial", "none");
  }
  return new Promise((res) => {
    const child = spawn(o.qemu, args, { stdio: ["ignore", o.kernel ? "pipe" : "ignore", "ignore"] });
    let settled = false;
    const finish = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill("SIGKILL");
      res(ok);
    };
    // Without a kernel, staying alive until the deadline is all that can be observed.
    const timer = setTimeout(() => finish(!o.kernel), o.kernel ? timeoutMs : Math.min(timeoutMs, 1500));
    let seen = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      seen = (seen + chunk.toString("latin1")).slice(-MAX_PROBE_OUTPUT);
      if (seen.includes(KERNEL_BANNER)) finish(true);
    });
    child.on("error", () => finish(false));
    child.on("exit", () => finish(false));
  });
}
