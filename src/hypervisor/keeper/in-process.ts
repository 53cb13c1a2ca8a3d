import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { MvmError } from "../../core/errors.js";
import { GuestMux } from "../../guest/mux.js";
import { pidAlive, processArgv, signalPid, waitFor } from "../../host/process.js";
import { removeVmLeftovers } from "./clean-up.js";
import type { KeeperConfig } from "./config.js";
import { ConsoleLogWriter } from "./console-log.js";
import { ConsoleSocketReader } from "./console-socket.js";
import type { Keeper, KeptProcess } from "./kept.js";
import type { KeeperExit } from "./link.js";

// A keeper inside a long-lived process (the daemon): it owns many VMs' hypervisor processes itself,
// so a VM costs its hypervisor and nothing else on the host. It does what a keeper process does for
// one VM: writes the console into its bounded log (from the console socket), shares the agent
// channel among clients (guest/mux.ts), and removes the VM's directory and TAP once a handed-over VM
// ends. Hypervisors run in sessions of their own and survive this process: each VM directory holds a
// keeper.json, from which the next run of the daemon takes its VMs back (`adopt`). A VM whose start
// was still in progress when the daemon died was never handed over, so it is stopped then, as a keeper
// process stops a VM whose mvmctl died.

export const KEPT_FILE = "keeper.json";
const OWNER = "daemon";
/** How often an adopted hypervisor (not this process's child) is checked for having ended. */
const ADOPTED_POLL_MS = 500;

interface KeptState {
  owner: typeof OWNER;
  /** The daemon keeping the VM (another daemon on the same data dir leaves it alone while it lives). */
  keeper_pid: number;
  keeper_argv: string[];
  pid: number;
  detached: boolean;
  cfg: KeeperConfig;
}

/** This process's command line as /proc shows it (what another daemon compares), read once. */
let ownArgv: string[] | undefined;
const selfArgv = (): string[] => {
  ownArgv ??= processArgv(process.pid);
  return ownArgv;
};

/** The same process as when it was kept: alive, with the argv it was started with (not a recycled pid). */
function sameProcess(pid: number, argv: string[]): boolean {
  return pidAlive(pid) && processArgv(pid).join("\0") === argv.join("\0");
}

function writeState(dir: string, state: KeptState): void {
  const tmp = join(dir, `${KEPT_FILE}.tmp`);
  writeFileSync(tmp, JSON.stringify(state), { mode: 0o600 });
  renameSync(tmp, join(dir, KEPT_FILE));
}

function readState(dir: string): KeptState | undefined {
  try {
    const s = JSON.parse(readFileSync(join(dir, KEPT_FILE), "utf8")) as KeptState;
    if (s?.owner !== OWNER || !Number.isSafeInteger(s.pid) || s.pid <= 0 || !Array.isArray(s.cfg?.argv))
      return undefined;
    return s;
  } catch {
    return undefined;
  }
}

/**
 * Whether the VM in `dir` is kept by a daemon that no longer runs: the VM runs on, but nothing serves
 * its guest channel or console until a daemon takes it back.
 */
export function daemonKeeperGone(dir: string): boolean {
  const state = readState(dir);
  return state !== undefined && !sameProcess(state.keeper_pid, state.keeper_argv ?? []);
}

class KeptVm implements KeptProcess {
  readonly childPid: Promise<number>;
  readonly exited: Promise<void>;
  exit: KeeperExit | undefined;
  readonly keeperPid = undefined;
  private pid = 0;
  private detached: boolean;
  private released = false;
  private readonly mux: GuestMux | undefined;
  private readonly console: ConsoleSocketReader | undefined;
  private readonly consoleLog: ConsoleLogWriter;
  private child: ChildProcess | undefined;
  private poll: NodeJS.Timeout | undefined;
  private ended: () => void = () => {};

  constructor(
    private readonly cfg: KeeperConfig,
    label: string,
    env: NodeJS.ProcessEnv,
    adopted?: { pid: number },
  ) {
    this.detached = adopted !== undefined;
    const at = (p: string) => resolve(cfg.cwd, p);
    this.consoleLog = new ConsoleLogWriter(at(cfg.console), cfg.consoleMaxBytes);
    this.mux = cfg.guestMux ? new GuestMux(at(cfg.guestMux.listen), at(cfg.guestMux.agent)) : undefined;
    this.console = cfg.consoleSocket
      ? new ConsoleSocketReader(
          at(cfg.consoleSocket),
          (b) => this.toConsole(b),
          () => this.running,
        )
      : undefined;
    this.exited = new Promise<void>((res) => {
      this.ended = res;
    });
    this.childPid = adopted ? this.takeBack(adopted.pid) : this.spawn(label, env);
    this.childPid.catch(() => {});
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  kill(): void {
    if (!this.running) return;
    if (this.child) this.child.kill("SIGKILL");
    else if (sameProcess(this.pid, this.cfg.argv)) signalPid(this.pid, "SIGKILL");
  }

  detach(): void {
    if (this.detached) return;
    this.detached = true;
    this.save();
    this.child?.unref();
  }

  /** Stops serving the VM without stopping it (the daemon is going; its next run adopts the VM). */
  release(): void {
    this.released = true;
    this.stopServing();
    this.child?.unref();
  }

  private toConsole(chunk: Buffer): void {
    try {
      this.consoleLog.write(chunk);
    } catch {
      // a full disk or a removed VM dir: the output is dropped, the VM keeps running
    }
  }

  private save(): void {
    try {
      writeState(this.cfg.cwd, {
        owner: OWNER,
        keeper_pid: process.pid,
        keeper_argv: selfArgv(),
        pid: this.pid,
        detached: this.detached,
        cfg: this.cfg,
      });
    } catch {
      // the VM directory is gone: the VM is being removed
    }
  }

  private spawn(label: string, env: NodeJS.ProcessEnv): Promise<number> {
    return new Promise<number>((res, rej) => {
      const [prog, ...args] = this.cfg.argv;
      const stderr = this.cfg.stderrLog
        ? openSync(resolve(this.cfg.cwd, this.cfg.stderrLog), "a", 0o600)
        : "ignore";
      let child: ChildProcess;
      try {
        // Its own session: the daemon's signals and terminal never reach it, and it outlives the daemon.
        child = spawn(prog as string, args, {
          cwd: this.cfg.cwd,
          detached: true,
          stdio: ["ignore", "ignore", stderr],
          env,
        });
      } finally {
        if (typeof stderr === "number") closeSync(stderr);
      }
      this.child = child;
      child.once("error", (e) => {
        this.ends({ code: null, signal: null });
        rej(new MvmError("external", `cannot run ${label}: ${e.message}`));
      });
      child.once("exit", (code, signal) => {
        this.ends({ code, signal });
        rej(new MvmError("external", `${label} exited at once`));
      });
      child.once("spawn", () => {
        this.pid = child.pid ?? 0;
        this.save();
        this.console?.start();
        const ready = this.mux ? this.mux.start() : Promise.resolve();
        ready.then(
          () => res(this.pid),
          (e: Error) => {
            child.kill("SIGKILL");
            rej(new MvmError("external", `cannot serve the guest channel: ${e.message}`));
          },
        );
      });
    });
  }

  private async takeBack(pid: number): Promise<number> {
    this.pid = pid;
    this.save();
    this.console?.start();
    await this.mux?.start();
    this.poll = setInterval(() => {
      if (!sameProcess(pid, this.cfg.argv)) this.ends({ code: null, signal: null });
    }, ADOPTED_POLL_MS);
    this.poll.unref();
    return pid;
  }

  private stopServing(): void {
    if (this.poll) clearInterval(this.poll);
    this.console?.stop();
    this.mux?.stop();
    try {
      this.consoleLog.close();
    } catch {
      // already closed
    }
  }

  private ends(how: KeeperExit): void {
    if (this.exit) return;
    this.exit = how;
    // What the console still held reaches the log before it is closed.
    setTimeout(() => {
      this.stopServing();
      if (this.detached && !this.released) removeVmLeftovers(this.cfg.vmDir, this.cfg.tap, this.ended);
      else this.ended();
    }, 50);
  }
}

/** The daemon's keeper: every VM it starts, and the ones an earlier run of it left running. */
export class HostKeeper implements Keeper {
  readonly readsConsoleSocket = true;
  private readonly vms = new Set<KeptVm>();

  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  start(cfg: KeeperConfig, label: string, env: NodeJS.ProcessEnv = this.env): KeptProcess {
    return this.track(new KeptVm(cfg, label, env));
  }

  /**
   * Takes back the VM in `dir` if a daemon kept it: a handed-over VM is served again; one whose start
   * was cut short (the daemon died during it) is stopped and its directory removed. Returns what was
   * done, or undefined when the VM is not a daemon's or has already ended.
   */
  async adopt(dir: string): Promise<"adopted" | "stopped" | undefined> {
    const state = readState(dir);
    if (!state || !sameProcess(state.pid, state.cfg.argv)) return undefined;
    // Kept by another daemon that still runs (several may serve one data dir): it stays that one's.
    if (state.keeper_pid !== process.pid && sameProcess(state.keeper_pid, state.keeper_argv ?? []))
      return undefined;
    if (!state.detached) {
      signalPid(state.pid, "SIGKILL");
      await waitFor(() => !sameProcess(state.pid, state.cfg.argv), 10_000);
      await new Promise<void>((res) => removeVmLeftovers(state.cfg.vmDir, state.cfg.tap, res));
      return "stopped";
    }
    const vm = this.track(new KeptVm(state.cfg, "", this.env, { pid: state.pid }));
    await vm.childPid;
    return "adopted";
  }

  /** Stops serving every VM, leaving them running for the next daemon. */
  release(): void {
    for (const vm of this.vms) vm.release();
    this.vms.clear();
  }

  private track(vm: KeptVm): KeptVm {
    this.vms.add(vm);
    void vm.exited.then(() => this.vms.delete(vm));
    return vm;
  }
}
