import type { Socket } from "node:net";
import { sleep } from "../../host/process.js";
import { connectUnixSocket } from "../../host/unix-socket.js";

// The guest's console read from the socket its hypervisor listens on. The reader connects as soon as
// the socket exists (QEMU waits for that first client before the guest runs) and reconnects whenever
// the connection drops while the VM lives, so a restarted keeper picks the console up again.

export class ConsoleSocketReader {
  private sock: Socket | undefined;
  private stopped = false;

  constructor(
    private readonly path: string,
    private readonly write: (chunk: Buffer) => void,
    /** Whether the VM still runs (no reconnecting to a VM that has gone). */
    private readonly alive: () => boolean,
  ) {}

  /** Connects (retrying while the VM lives) and copies the console until stop(). */
  start(): void {
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.sock?.destroy();
  }

  private async connect(): Promise<void> {
    const started = Date.now();
    while (!this.stopped && this.alive()) {
      try {
        const s = await connectUnixSocket(this.path, 1000);
        if (this.stopped) {
          s.destroy();
          return;
        }
        this.sock = s;
        s.on("data", this.write);
        s.on("error", () => {});
        s.once("close", () => {
          this.sock = undefined;
          if (!this.stopped) setTimeout(() => void this.connect(), 100).unref();
        });
        return;
      } catch {
        // Not listening yet (QEMU is starting) or gone: poll briefly at first, then gently.
        await sleep(Date.now() - started < 15_000 ? 3 : 250);
      }
    }
  }
}
