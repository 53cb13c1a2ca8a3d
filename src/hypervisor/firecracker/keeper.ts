// The keeper: a small process that owns one Firecracker, so that a VM either belongs to a live
// mvmctl or has been handed over on purpose (`up -d`). mvmctl starts it in its own session and
// talks to it over stdin/stdout:
//   keeper → mvmctl: "pid <n>" once Firecracker is spawned, "exit <code> <signal>" when it ends.
//   mvmctl → keeper: "detach" (the VM outlives mvmctl), "kill" (stop Firecracker now).
// If mvmctl dies before detaching (even by SIGKILL) the keeper's stdin reaches EOF: it kills
// Firecracker. Whenever Firecracker ends with nobody watching (that crash, or after a detach: `down`,
// a guest reboot, a VMM crash), the keeper removes what the VM held: its TAP and its directory.
// Firecracker runs under `setpriv --pdeathsig KILL`, so it cannot outlive a killed keeper either.
// Same protocol as the QEMU keeper (qemu-keeper.ts), plus the TAP.

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { MvmError } from "../../core/errors.js";
import { ConsoleLogWriter } from "../keeper/console-log.js";
import { readKeeperCommands } from "../keeper/commands.js";

export interface FirecrackerKeeperConfig {
  bin: string;
  args: string[];
  cwd: string;
  /** File receiving Firecracker's stdout and stderr (the guest console), bounded and rotated. */
  log: string;
  /** Bound of the console log and its one rotated predecessor together. */
  consoleMaxBytes: number;
  /** Removed when the VM ends unwatched. */
  vmDir: string;
  /** The VM's TAP device, removed when the VM ends unwatched. */
  tap?: string;
  setpriv?: string;
  env?: NodeJS.ProcessEnv;
}

function main(): void {
  const cfg = JSON.parse(process.argv[2] ?? "{}") as FirecrackerKeeperConfig;
  let detached = false;
  let exited = false;
  let vmm: ChildProcess | undefined;
  const say = (line: string) => {
    if (detached) return;
    try {
      process.stdout.write(`${line}\n`);
    } catch {
      // mvmctl is gone; the stdin EOF handler deals with that
    }
  };
  process.stdout.on("error", () => {});
  for (const sig of ["SIGINT", "SIGHUP", "SIGPIPE"] as const) process.on(sig, () => {});
  process.on("SIGTERM", () => {
    if (vmm?.pid && !exited) vmm.kill("SIGKILL");
    else process.exit(0);
  });

  const cleanUp = (done: () => void) => {
    const removeDir = () => {
      try {
        rmSync(cfg.vmDir, { recursive: true, force: true });
      } catch {
        // best effort: reapFirecrackerTaps and `mvmctl ls` sweep what is left
      }
      done();
    };
    if (!cfg.tap) return removeDir();
    execFile(process.env.MVM_IP_BIN || "ip", ["link", "del", "dev", cfg.tap], { timeout: 10_000 }, () =>
      removeDir(),
    );
  };

  const consoleLog = new ConsoleLogWriter(cfg.log, cfg.consoleMaxBytes);
  const wrap = cfg.setpriv !== undefined && existsSync(cfg.setpriv);
  vmm = spawn(
    wrap ? (cfg.setpriv as string) : cfg.bin,
    wrap ? ["--pdeathsig", "KILL", "--", cfg.bin, ...cfg.args] : cfg.args,
    { cwd: cfg.cwd, stdio: ["ignore", "pipe", "pipe"], env: cfg.env ?? process.env },
  );
  const toLog = (chunk: Buffer) => {
    try {
      consoleLog.write(chunk);
    } catch {
      // a full disk or a removed VM dir: the output is dropped, the VM keeps running
    }
  };
  vmm.stdout?.on("data", toLog);
  vmm.stderr?.on("data", toLog);
  vmm.on("error", (e) => {
    exited = true;
    say(`error ${JSON.stringify(e.message)}`);
    if (detached) cleanUp(() => process.exit(1));
    else setTimeout(() => process.exit(1), 50);
  });
  vmm.on("spawn", () => say(`pid ${vmm?.pid}`));
  vmm.on("exit", (code, signal) => {
    exited = true;
    say(`exit ${code ?? "null"} ${signal ?? "null"}`);
    if (detached) cleanUp(() => process.exit(0));
    // Give the line time to reach mvmctl before this process goes away.
    else setTimeout(() => process.exit(0), 50);
  });

  readKeeperCommands({
    detach: () => {
      detached = true;
    },
    kill: () => {
      if (vmm?.pid && !exited) vmm.kill("SIGKILL");
    },
    end: () => {
      if (detached) return;
      // mvmctl died (or let go without handing the VM over): nothing may outlive it.
      detached = true; // from here on the keeper cleans up by itself
      if (vmm?.pid && !exited) vmm.kill("SIGKILL");
      else cleanUp(() => process.exit(0));
    },
  });
}

/** mvmctl's end of the protocol: spawn this file with `node` and wrap the child in a KeeperLink. */
export const FC_KEEPER_SCRIPT = fileURLToPath(import.meta.url);

/** mvmctl's end of the keeper protocol. */
export class KeeperLink {
  readonly vmmPid: Promise<number>;
  /** How Firecracker ended, once it has (while this mvmctl watches). */
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private detached = false;
  private readonly gone: Promise<void>;

  constructor(private readonly child: ReturnType<typeof spawn>) {
    let gotPid: (n: number) => void = () => {};
    let failed: (e: Error) => void = () => {};
    this.vmmPid = new Promise<number>((res, rej) => {
      gotPid = res;
      failed = rej;
    });
    this.vmmPid.catch(() => {});
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
            code: a === "null" ? null : Number(a),
            signal: b === "null" ? null : (b as NodeJS.Signals),
          };
          failed(new MvmError("external", "firecracker exited at once"));
        } else if (kind === "error") {
          this.exit = { code: null, signal: null };
          const why = line.slice(6).replace(/^"|"$/g, "");
          failed(new MvmError("external", `cannot run firecracker: ${why}`));
        }
      }
    });
    child.stdin?.on("error", () => {});
    this.gone = new Promise<void>((res) => {
      child.once("exit", () => {
        this.exit ??= { code: null, signal: null };
        failed(new MvmError("external", "firecracker's keeper exited"));
        res();
      });
    });
    child.once("error", (e) =>
      failed(new MvmError("external", `cannot start firecracker's keeper: ${e.message}`)),
    );
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  get watching(): boolean {
    return !this.detached;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  /** Kills Firecracker through the keeper and waits until it has gone. */
  async killAndWait(timeoutMs = 10_000): Promise<void> {
    if (this.detached) return;
    this.child.stdin?.write("kill\n");
    await Promise.race([this.gone, sleep(timeoutMs)]);
  }

  detach(): void {
    if (this.detached) return;
    this.detached = true;
    this.child.stdin?.write("detach\n");
    this.child.stdin?.end();
    this.child.stdout?.destroy();
    this.child.unref();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
