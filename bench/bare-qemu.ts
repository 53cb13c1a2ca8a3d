import { spawn } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { MACHINE } from "../src/hypervisor/qemu/args.js";

// The floor under any VM start on this machine: a bare QEMU (our machine type, 256 MiB, paused, TCG)
// from spawn until its QMP socket sends its greeting. Benchmarks compare their starts with it.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** PSS of a process in MiB (0 when it is gone). */
export function pssMib(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Milliseconds until the greeting; with `settlePss`, also the bare QEMU's PSS once it has settled
 * for a second (what one more VMM costs with no guest running).
 */
export async function bareQemuToQmp(
  dir: string,
  opts: { settlePss?: boolean } = {},
): Promise<{ ms: number; pssMib?: number }> {
  const sock = join(dir, `qmp-${process.hrtime.bigint()}.sock`);
  const t0 = process.hrtime.bigint();
  const qemu = spawn(
    process.env.MVM_QEMU_BIN ?? "qemu-system-x86_64",
    ["-M", MACHINE, "-accel", "tcg", "-cpu", "max", "-m", "256M", "-smp", "1"].concat([
      "-nodefaults",
      "-no-user-config",
      "-display",
      "none",
      "-S",
      "-qmp",
      `unix:${sock},server=on,wait=off`,
    ]),
    { stdio: "ignore" },
  );
  try {
    for (;;) {
      const greeted = await new Promise<boolean>((res) => {
        const c = connect(sock);
        c.once("data", () => {
          c.destroy();
          res(true);
        });
        c.once("error", () => res(false));
      });
      if (greeted) break;
      if (qemu.exitCode !== null) throw new Error(`bare QEMU exited (${qemu.exitCode})`);
      await sleep(2);
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (!opts.settlePss) return { ms };
    await sleep(1000);
    return { ms, pssMib: pssMib(qemu.pid ?? 0) };
  } finally {
    qemu.kill("SIGKILL");
    rmSync(sock, { force: true });
  }
}
