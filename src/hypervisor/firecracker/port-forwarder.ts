// `-p HOST:GUEST` for a VMM that has no port forwarding of its own (Firecracker: the guest sits on
// a TAP). A small detached process listens on the host ports and pipes each connection to the
// guest's address. It reports on fd 3 whether every port was bound, so a port already in use fails
// the start; it exits by itself when the VM's process is gone, and is stopped with the VM.
//
// Run as: node port-forwarder.js --vm-dir DIR --watch-pid PID HOSTADDR:HOSTPORT=GUESTADDR:GUESTPORT…

import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, writeSync } from "node:fs";
import { createConnection, createServer, isIP } from "node:net";
import { fileURLToPath } from "node:url";
import { MvmError } from "../../core/errors.js";
import { pidAlive, processArgv, signalPid } from "../../host/process.js";

export interface ForwardSpec {
  hostAddress: string;
  hostPort: number;
  guestAddress: string;
  guestPort: number;
}

export const FORWARDER_SCRIPT = fileURLToPath(import.meta.url);

function port(s: string, what: string): number {
  const n = Number(s);
  if (!/^\d{1,5}$/.test(s) || n < 1 || n > 65535)
    throw new MvmError("usage", `invalid ${what} port ${JSON.stringify(s)}`);
  return n;
}

function address(s: string, what: string): string {
  if (!isIP(s)) throw new MvmError("usage", `invalid ${what} address ${JSON.stringify(s)}`);
  return s;
}

export function formatSpec(f: ForwardSpec): string {
  return `${f.hostAddress}:${f.hostPort}=${f.guestAddress}:${f.guestPort}`;
}

export function parseSpec(s: string): ForwardSpec {
  const m = /^(.+):(\d+)=(.+):(\d+)$/.exec(s);
  if (!m) throw new MvmError("usage", `invalid forward ${JSON.stringify(s)}`);
  return {
    hostAddress: address(m[1] as string, "host"),
    hostPort: port(m[2] as string, "host"),
    guestAddress: address(m[3] as string, "guest"),
    guestPort: port(m[4] as string, "guest"),
  };
}

/**
 * Starts the forwarder detached and resolves once every host port is bound (its pid), or rejects
 * with the reason (e.g. a port already in use). Output goes to `logPath`.
 */
export function startForwarder(opts: {
  specs: ForwardSpec[];
  vmDir: string;
  watchPid: number;
  logPath: string;
  timeoutMs?: number;
}): Promise<number> {
  const log = openSync(opts.logPath, "a", 0o600);
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(
      process.execPath,
      [
        FORWARDER_SCRIPT,
        "--vm-dir",
        opts.vmDir,
        "--watch-pid",
        String(opts.watchPid),
        ...opts.specs.map(formatSpec),
      ],
      { detached: true, stdio: ["ignore", log, log, "pipe"] },
    );
  } finally {
    closeSync(log);
  }
  return new Promise((resolve, reject) => {
    let said = "";
    const report = child.stdio[3] as NodeJS.ReadableStream;
    const timer = setTimeout(
      () => finish(new MvmError("timeout", "the port forwarder did not start")),
      opts.timeoutMs ?? 10_000,
    );
    const finish = (err?: Error) => {
      clearTimeout(timer);
      report.removeAllListeners();
      (report as unknown as { destroy(): void }).destroy();
      if (err) {
        if (child.pid && pidAlive(child.pid)) process.kill(child.pid, "SIGKILL");
        reject(err);
      } else {
        child.unref();
        resolve(child.pid as number);
      }
    };
    report.on("data", (d: Buffer) => {
      said += d.toString("utf8");
      if (said.startsWith("ready\n")) finish();
      else if (said.includes("\n")) finish(new MvmError("external", said.replace(/^error: /, "").trim()));
    });
    child.once("error", (e) =>
      finish(new MvmError("external", `cannot start the port forwarder: ${e.message}`)),
    );
    child.once("exit", (code) => {
      if (!said.startsWith("ready\n"))
        finish(
          new MvmError(
            "external",
            said.replace(/^error: /, "").trim() || `the port forwarder exited (${code})`,
          ),
        );
    });
  });
}

/** Alive and not a zombie: an orphaned VMM may stay a zombie where nothing reaps orphans. */
function processRunning(pid: number): boolean {
  if (!pidAlive(pid)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

function report(line: string): void {
  try {
    writeSync(3, `${line}\n`);
    closeSync(3);
  } catch {
    // the parent stopped listening
  }
}

async function main(argv: string[]): Promise<void> {
  let watchPid = 0;
  const specs: ForwardSpec[] = [];
  try {
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i] as string;
      if (a === "--watch-pid") watchPid = Number(argv[++i]);
      else if (a === "--vm-dir")
        i++; // only there so `ps` and stop() can tell whose forwarder this is
      else specs.push(parseSpec(a));
    }
  } catch (e) {
    report(`error: ${(e as Error).message}`);
    process.exit(2);
  }
  const servers = specs.map((f) =>
    createServer((client) => {
      const guest = createConnection({ host: f.guestAddress, port: f.guestPort });
      client.pipe(guest);
      guest.pipe(client);
      const close = () => {
        client.destroy();
        guest.destroy();
      };
      client.on("error", close);
      guest.on("error", close);
      client.on("close", close);
      guest.on("close", close);
    }),
  );
  try {
    await Promise.all(
      servers.map(
        (s, i) =>
          new Promise<void>((resolve, reject) => {
            const f = specs[i] as ForwardSpec;
            s.once("error", (e: NodeJS.ErrnoException) =>
              reject(
                new Error(
                  e.code === "EADDRINUSE"
                    ? `host port ${f.hostAddress}:${f.hostPort} is already in use`
                    : `cannot listen on ${f.hostAddress}:${f.hostPort}: ${e.message}`,
                ),
              ),
            );
            s.listen(f.hostPort, f.hostAddress, () => resolve());
          }),
      ),
    );
  } catch (e) {
    report(`error: ${(e as Error).message}`);
    process.exit(1);
  }
  report("ready");
  process.on("SIGTERM", () => process.exit(0));
  // Outlive neither the VM nor a `down` that killed it without us.
  setInterval(() => {
    if (watchPid > 0 && !processRunning(watchPid)) process.exit(0);
  }, 500);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) void main(process.argv.slice(2));

/** Kills a VM's port forwarder, if that pid is still its forwarder (never a recycled pid). */
export function stopForwarder(pid: number, dir: string): void {
  const argv = processArgv(pid);
  if (argv.includes(FORWARDER_SCRIPT) && argv.some((a) => a.includes(dir))) signalPid(pid, "SIGKILL");
}
