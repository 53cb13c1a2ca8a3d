import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { MvmError } from "../../core/errors.js";
import { processArgv, signalPid, sleep, waitFor } from "../../host/process.js";
import type { KeeperConfig } from "./config.js";

// mvmctl's end of the keeper protocol (keeper/main.ts): start a keeper for one hypervisor process,
// learn its pid, notice its end, kill it, or hand it over.

/** The keeper's script, run with `node`. */
export const KEEPER_SCRIPT = fileURLToPath(new URL("./main.js", import.meta.url));

export interface KeeperExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class KeeperLink {
  /** The hypervisor's pid, once spawned; rejects if it could not run or ended at once. */
  readonly childPid: Promise<number>;
  /** Resolves when the keeper (and so the hypervisor) has exited. */
  readonly exited: Promise<void>;
  /** How the hypervisor ended, once it has (while this mvmctl watches). */
  exit: KeeperExit | undefined;
  private detached = false;

  constructor(
    private readonly child: ReturnType<typeof spawn>,
    /** The hypervisor's name in error messages ("QEMU", "firecracker"). */
    label: string,
  ) {
    let gotPid: (n: number) => void = () => {};
    let failed: (e: Error) => void = () => {};
    this.childPid = new Promise<number>((res, rej) => {
      gotPid = res;
      failed = rej;
    });
    this.childPid.catch(() => {});
    let buf = "";
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (d: string) => {
      buf += d;
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const [kind, a, b] = line.split(" ");
        if (kind === "pid") gotPid(Number(a));
        else if (kind === "exit") {
          this.exit = {
            code: a === "null" || a === undefined ? null : Number(a),
            signal: b === "null" || b === undefined ? null : (b as NodeJS.Signals),
          };
          failed(new MvmError("external", `${label} exited at once`));
        } else if (kind === "error") {
          this.exit = { code: null, signal: null };
          const why = line.slice(6).replace(/^"|"$/g, "");
          failed(new MvmError("external", `cannot run ${label}: ${why}`));
        }
      }
    });
    child.stdin?.on("error", () => {});
    this.exited = new Promise<void>((res) => {
      child.once("exit", () => {
        this.exit ??= { code: null, signal: null };
        failed(new MvmError("external", `${label}'s keeper exited`));
        res();
      });
    });
    child.once("error", (e) =>
      failed(new MvmError("external", `cannot start ${label}'s keeper: ${e.message}`)),
    );
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  get keeperPid(): number {
    return this.pid;
  }

  /** False once the VM has been handed over (`detach`). */
  get watching(): boolean {
    return !this.detached;
  }

  /** True until the hypervisor has ended. */
  get running(): boolean {
    return this.exit === undefined;
  }

  /** Asks the keeper to kill the hypervisor now. */
  kill(): void {
    if (!this.detached) this.child.stdin?.write("kill\n");
  }

  /** Kills the hypervisor through the keeper and waits until the keeper has gone. */
  async killAndWait(timeoutMs = 10_000): Promise<void> {
    if (this.detached) return;
    this.kill();
    await Promise.race([this.exited, sleep(timeoutMs)]);
  }

  /** Hands the VM over: it keeps running after this mvmctl exits. */
  detach(): void {
    if (this.detached) return;
    this.detached = true;
    this.child.stdin?.write("detach\n");
    this.child.stdin?.end();
    this.child.stdout?.destroy();
    this.child.unref();
  }
}

/** Starts a keeper for `cfg` in its own session; `label` names the hypervisor in errors. */
export function startKeeper(
  cfg: KeeperConfig,
  label: string,
  env: NodeJS.ProcessEnv = process.env,
): KeeperLink {
  const child = spawn(process.execPath, [KEEPER_SCRIPT, JSON.stringify(cfg)], {
    cwd: cfg.cwd,
    detached: true, // own session: a terminal Ctrl-C reaches mvmctl, which stops the VM itself
    stdio: ["pipe", "pipe", "ignore"],
    env,
  });
  return new KeeperLink(child, label);
}

/** Whether `pid` is the keeper of the VM in `vmDir` (never a recycled pid running something else). */
export function isKeeperOf(pid: number, vmDir: string): boolean {
  const argv = processArgv(pid);
  return argv.includes(KEEPER_SCRIPT) && argv.some((a) => a.includes(vmDir));
}

/**
 * Waits (`timeoutMs` at most) for a handed-over VM's keeper to finish its clean-up after the
 * hypervisor ended, then kills it if it is still that keeper.
 */
export async function waitForKeeper(pid: number, vmDir: string, timeoutMs = 3_000): Promise<void> {
  if (await waitFor(() => !isKeeperOf(pid, vmDir), timeoutMs)) return;
  signalPid(pid, "SIGKILL");
}
