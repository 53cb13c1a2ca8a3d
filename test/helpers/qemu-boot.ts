import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { promises as fs } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { GuestChannel } from "../../src/guest/channel.js";
import { fullBootArgs, type QemuDrive, qemuArgv } from "../../src/hypervisor/qemu/args.js";
import type { GuestImage } from "./fixtures.js";

// A small QEMU launcher for the guest-image tests (the real backend is src/hypervisor/qemu/): the
// command line comes from production's builder (qemu/args.ts: the same microvm machine, kernel
// command line, devices and agent port), with what a test needs instead of a VM directory: TCG,
// the console in a file, the root disk in snapshot mode so the cached image is never written, and
// QEMU run directly rather than through the keeper.

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface BootOptions {
  image: GuestImage;
  workDir: string;
  memMiB?: number;
  /** Guest TCP ports to forward from 127.0.0.1:<free port>. */
  forward?: number[];
  /** Extra kernel command line words (e.g. mvm.ip=…). */
  append?: string[];
  /** Extra drives in order: vdb (config), vdc (secrets), vdd (data). */
  drives?: string[];
  /** A qcow2 overlay over the image's rootfs to use (kept), instead of a throwaway snapshot=on. */
  rootOverlay?: string;
  /** Add a QMP socket at <workDir>/qmp.sock. */
  qmp?: boolean;
  /** QEMU -incoming URI (restore a saved VM). */
  incoming?: string;
}

export class TestVm {
  readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined;

  constructor(
    readonly proc: ChildProcess,
    readonly workDir: string,
    readonly agentSocket: string,
    readonly consoleLog: string,
    readonly ports: Map<number, number>,
  ) {
    this.exited = new Promise((resolve) => {
      proc.on("exit", (code) => {
        this.exitCode = code;
        resolve(code);
      });
    });
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  console(): string {
    try {
      return readFileSync(this.consoleLog, "utf8");
    } catch {
      return "";
    }
  }

  async waitForConsole(re: RegExp, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!re.test(this.console())) {
      if (!this.running)
        throw new Error(`QEMU exited before ${re}; console:\n${this.console().slice(-3000)}`);
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${re}; console:\n${this.console().slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Connects to the agent and waits until it answers a ping. */
  async channel(timeoutMs = 120_000): Promise<GuestChannel> {
    const ch = await GuestChannel.connectUnix(this.agentSocket, { connectRetryMs: 10_000 });
    try {
      await ch.waitForAgent(timeoutMs);
    } catch (e) {
      ch.close();
      throw new Error(
        `agent did not answer: ${(e as Error).message}; console:\n${this.console().slice(-3000)}`,
      );
    }
    return ch;
  }

  async stop(): Promise<void> {
    if (this.running && this.proc.pid) this.proc.kill("SIGKILL");
    await this.exited;
  }
}

export interface TestLaunch {
  args: string[];
  agentSocket: string;
  consoleLog: string;
  /** Guest port → host port. */
  ports: Map<number, number>;
}

/** QEMU's argv for a test VM, from production's builder (qemu/args.ts). */
export async function testQemuLaunch(opts: BootOptions): Promise<TestLaunch> {
  const agentSocket = join(opts.workDir, "agent.sock");
  const consoleLog = join(opts.workDir, "console.log");
  const ports = new Map<number, number>();
  for (const guest of opts.forward ?? []) ports.set(guest, await freePort());
  const forwards = [...ports].map(([guest, host]) => ({ address: "127.0.0.1", host, guest }));
  const drives: QemuDrive[] = [
    opts.rootOverlay
      ? { id: "root", file: opts.rootOverlay, format: "qcow2" }
      : { id: "root", file: opts.image.rootfs, format: "raw", throwaway: true },
    ...(opts.drives ?? []).map((file, i): QemuDrive => ({ id: `d${i}`, file, format: "raw" })),
  ];
  // TCG only here: /dev/kvm is not usable on these machines.
  const args = qemuArgv({
    name: `test-${process.pid}`,
    accel: "tcg",
    vcpus: 1,
    memMib: opts.memMiB ?? 256,
    memory: { kind: "anonymous" },
    kernel: opts.image.kernel,
    initrd: opts.image.initrd,
    append: fullBootArgs({}, "tcg", opts.append ?? []),
    drives,
    forwards,
    serial: { kind: "file", path: consoleLog },
    agentSocket,
    ...(opts.qmp ? { qmpSocket: join(opts.workDir, "qmp.sock") } : {}),
    ...(opts.incoming ? { incoming: opts.incoming } : {}),
  });
  return { args, agentSocket, consoleLog, ports };
}

export async function bootQemu(opts: BootOptions): Promise<TestVm> {
  await fs.mkdir(opts.workDir, { recursive: true });
  const { args, agentSocket, consoleLog, ports } = await testQemuLaunch(opts);
  const proc = spawn("qemu-system-x86_64", args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  proc.stderr?.on("data", (d) => {
    stderr += d;
  });
  const vm = new TestVm(proc, opts.workDir, agentSocket, consoleLog, ports);
  // Wait for QEMU to create its sockets (or fail on a bad command line).
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await fs.access(agentSocket);
      return vm;
    } catch {
      // not yet
    }
    if (!vm.running) throw new Error(`QEMU failed to start: ${stderr}`);
    if (Date.now() > deadline) {
      await vm.stop();
      throw new Error(`QEMU did not create ${agentSocket}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
