// The keeper: a small process that owns one hypervisor process (QEMU, Firecracker), so that a VM
// either belongs to a live mvmctl or has been handed over on purpose (`up -d`). mvmctl starts it in
// its own session (a Ctrl-C in the terminal reaches mvmctl only) and talks to it over stdin/stdout:
//   keeper → mvmctl: "pid <n>" once the hypervisor is spawned, "exit <code> <signal>" when it ends,
//                    "error <json string>" when it cannot run it.
//   mvmctl → keeper: "detach" (the VM outlives mvmctl), "kill" (stop the hypervisor now).
// If mvmctl dies before detaching (even by SIGKILL) the keeper's stdin reaches EOF: it kills the
// hypervisor. Whenever the hypervisor ends with nobody watching (that crash, or after a detach:
// `down`, a guest poweroff, a crash) the keeper removes what the VM held: its TAP and its directory.
// The hypervisor runs under `setpriv --pdeathsig KILL`, so it cannot outlive a killed keeper either.
// The keeper can also hold the one connection a QEMU agent chardev accepts and share it with every
// client through a socket in the VM directory (guest/mux.ts).

import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, openSync } from "node:fs";
import { resolve } from "node:path";
import { GuestMux } from "../../guest/mux.js";
import { removeVmLeftovers } from "./clean-up.js";
import { readKeeperCommands } from "./commands.js";
import type { KeeperConfig } from "./config.js";
import { ConsoleLogWriter } from "./console-log.js";

function main(): void {
  const cfg = JSON.parse(process.argv[2] ?? "{}") as KeeperConfig;
  let detached = false;
  let exited = false;
  let child: ChildProcess | undefined;
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
    if (child?.pid && !exited) child.kill("SIGKILL");
    else process.exit(0);
  });

  const mux = cfg.guestMux ? new GuestMux(cfg.guestMux.listen, cfg.guestMux.agent) : undefined;
  const cleanUp = (done: () => void) => {
    mux?.stop();
    removeVmLeftovers(cfg.vmDir, cfg.tap, done);
  };

  const consoleLog = new ConsoleLogWriter(resolve(cfg.cwd, cfg.console), cfg.consoleMaxBytes);
  const toConsole = (chunk: Buffer) => {
    try {
      consoleLog.write(chunk);
    } catch {
      // a full disk or a removed VM dir: the output is dropped, the VM keeps running
    }
  };
  const stderrFd = cfg.stderrLog ? openSync(resolve(cfg.cwd, cfg.stderrLog), "a", 0o600) : undefined;
  const [prog, ...args] = cfg.argv;
  const wrap = cfg.setpriv !== undefined && existsSync(cfg.setpriv);
  child = spawn(
    wrap ? (cfg.setpriv as string) : (prog as string),
    wrap ? ["--pdeathsig", "KILL", "--", prog as string, ...args] : args,
    {
      cwd: cfg.cwd,
      // A serial console reading a pipe nobody writes to never sees an end of input.
      stdio: [cfg.stdinPipe ? "pipe" : "ignore", "pipe", stderrFd ?? "pipe"],
    },
  );
  if (stderrFd !== undefined) closeSync(stderrFd);
  child.stdout?.on("data", toConsole);
  child.stderr?.on("data", toConsole);
  child.on("error", (e) => {
    exited = true;
    say(`error ${JSON.stringify(e.message)}`);
    if (detached) cleanUp(() => process.exit(1));
    else setTimeout(() => process.exit(1), 50);
  });
  child.on("spawn", () => {
    // Listening before "pid" is reported, so clients never find the socket missing.
    const ready = mux ? mux.start() : Promise.resolve();
    ready.then(
      () => say(`pid ${child?.pid}`),
      (e: Error) => {
        say(`error ${JSON.stringify(`cannot serve the guest channel: ${e.message}`)}`);
        child?.kill("SIGKILL");
      },
    );
  });
  child.on("exit", (code, signal) => {
    exited = true;
    say(`exit ${code ?? "null"} ${signal ?? "null"}`);
    if (detached) cleanUp(() => process.exit(0));
    // Give the line time to reach mvmctl before this process goes away.
    else {
      mux?.stop();
      setTimeout(() => process.exit(0), 50);
    }
  });

  readKeeperCommands({
    detach: () => {
      detached = true;
    },
    kill: () => {
      if (child?.pid && !exited) child.kill("SIGKILL");
    },
    end: () => {
      if (detached) return;
      // mvmctl died (or let go without handing the VM over): nothing may outlive it.
      detached = true; // from here on the keeper cleans up by itself
      if (child?.pid && !exited) child.kill("SIGKILL");
      else cleanUp(() => process.exit(0));
    },
  });
}

main();
