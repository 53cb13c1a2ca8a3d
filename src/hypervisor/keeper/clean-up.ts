import { execFile } from "node:child_process";
import { rmSync } from "node:fs";

/**
 * Removes what a VM held once its hypervisor ended with nobody watching: its TAP device (when it has
 * one) and its directory. Best effort: `mvmctl ls` and the TAP reaper sweep whatever is left.
 */
export function removeVmLeftovers(vmDir: string, tap: string | undefined, done: () => void): void {
  const removeDir = () => {
    try {
      rmSync(vmDir, { recursive: true, force: true });
    } catch {
      // swept later
    }
    done();
  };
  if (!tap) {
    removeDir();
    return;
  }
  execFile(process.env.MVM_IP_BIN || "ip", ["link", "del", "dev", tap], { timeout: 10_000 }, () =>
    removeDir(),
  );
}
