// The keeper: a small process that owns one QEMU. mvmctl starts it (in its own session, so a Ctrl-C in
// the terminal reaches mvmctl only) and talks to it over stdin/stdout:
//   keeper → mvmctl: "pid <n>" once QEMU is spawned, "exit <code> <signal>" when it ends.
//   mvmctl → keeper: "detach" (the VM outlives mvmctl: `up -d`), "kill" (stop QEMU now).
// If mvmctl dies before detaching — even by SIGKILL — the keeper's stdin reaches EOF: it kills QEMU
// and removes the VM directory, so a crashed start leaves nothing behind. QEMU runs under
// `setpriv --pdeathsig KILL`, so if the keeper itself is killed, QEMU dies with it. After a detach,
// QEMU's end (down, guest poweroff, crash) is the VM's end: the keeper removes the VM directory.
// The keeper also holds the one connection QEMU's agent chardev takes and shares it with every
// client through a socket in the VM directory (guest-mux.ts).

import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, openSync, rmSync } from "node:fs";
import { ConsoleLogWriter } from "./console-log.js";
import { GuestMux } from "../../guest/mux.js";
import { readKeeperCommands } from "./commands.js";

export interface KeeperConfig {
  /** argv[0] is the program (qemu-system-x86_64). */
  argv: string[];
  cwd: string;
  /** File (relative to cwd) that receives QEMU's own messages (its stderr). */
  log: string;
  /** File (relative to cwd) that receives the guest's serial console (QEMU's stdout), bounded. */
  console: string;
  /** Bound of the console log and its one rotated predecessor together. */
  consoleMaxBytes: number;
  /** Removed when the VM ends without mvmctl watching (crash before detach, or after detach). */
  vmDir: string;
  /** Wrap QEMU in `setpriv --pdeathsig KILL` (util-linux) so it cannot outlive the keeper. */
  setpriv?: string;
  /** Serve the guest agent's channel to many clients: both paths relative to cwd. */
  guestMux?: { listen: string; agent: string };
}

function main(): void {
  const cfg = JSON.parse(process.argv[2] ?? "{}") as KeeperConfig;
  let detached = false;
  let qemu: ChildProcess | undefined;
  let exited = false;
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
    if (qemu?.pid && !exited) qemu.kill("SIGKILL");
    else process.exit(0);
  });

  const removeDir = () => {
    try {
      rmSync(cfg.vmDir, { recursive: true, force: true });
    } catch {
      // best effort; `mvmctl ls` sweeps what is left
    }
  };

  const logFd = openSync(`${cfg.cwd}/${cfg.log}`, "a", 0o600);
  const [prog, ...args] = cfg.argv;
  const wrap = cfg.setpriv && existsSync(cfg.setpriv);
  qemu = spawn(
    wrap ? (cfg.setpriv as string) : (prog as string),
    wrap ? ["--pdeathsig", "KILL", "--", prog as string, ...args] : args,
    {
      cwd: cfg.cwd,
      // The console's input is a pipe nobody writes to: the guest never reads anything, nor an end of input.
      stdio: ["pipe", "pipe", logFd],
    },
  );
  closeSync(logFd);
  const consoleLog = new ConsoleLogWriter(`${cfg.cwd}/${cfg.console}`, cfg.consoleMaxBytes);
  qemu.stdout?.on("data", (chunk: Buffer) => {
    try {
      consoleLog.write(chunk);
    } catch {
      // a full disk or a removed VM dir: the output is dropped, the VM keeps running
    }
  });
  qemu.on("error", (e) => {
    exited = true;
    say(`error ${JSON.stringify(e.message)}`);
    if (detached) removeDir();
    process.exit(1);
  });
  const mux = cfg.guestMux ? new GuestMux(cfg.guestMux.listen, cfg.guestMux.agent) : undefined;
  qemu.on("spawn", () => {
    // Listening before "pid" is reported, so clients never find the socket missing.
    const ready = mux ? mux.start() : Promise.resolve();
    ready.then(
      () => say(`pid ${qemu?.pid}`),
      (e: Error) => {
        say(`error ${JSON.stringify(`cannot serve the guest channel: ${e.message}`)}`);
        qemu?.kill("SIGKILL");
      },
    );
  });
  qemu.on("exit", (code, signal) => {
    exited = true;
    mux?.stop();
    say(`exit ${code ?? "null"} ${signal ?? "null"}`);
    if (detached) removeDir();
    // Give the line time to reach mvmctl before this process goes away.
    setTimeout(() => process.exit(0), detached ? 0 : 50);
  });

  readKeeperCommands({
    detach: () => {
      detached = true;
    },
    kill: () => {
      if (qemu?.pid && !exited) qemu.kill("SIGKILL");
    },
    end: () => {
      if (detached) return;
      // mvmctl died (or closed us) before the VM was handed over: nothing may outlive it.
      detached = true; // from here on the keeper cleans up by itself
      if (qemu?.pid && !exited) qemu.kill("SIGKILL");
      else {
        removeDir();
        process.exit(0);
      }
    },
  });
}

main();
