import { formatBytes } from "../../core/sizes.js";
import type { ProgressSink } from "../../registry/progress.js";

// Transfer progress on stderr: a redrawn bar with bytes and rate on a terminal, one line per file
// otherwise. Commands given --json use the registry's silent sink instead, so stdout stays
// machine-readable either way.

export class StderrProgress implements ProgressSink {
  private total = 0;
  private done = 0;
  private started = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private readonly tty: boolean;

  constructor(
    private readonly label: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {
    this.tty = Boolean(stream.isTTY);
  }

  start(total: number): void {
    this.total = total;
    this.done = 0;
    this.started = Date.now();
    if (this.tty) {
      this.timer = setInterval(() => this.draw(), 150);
      this.timer.unref();
    }
  }

  add(n: number): void {
    this.done += n;
  }

  fileDone(line: string): void {
    if (this.tty) this.stream.write("\r\u001b[K");
    this.stream.write(`  ${line}\n`);
    if (this.tty) this.draw();
  }

  finish(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.tty) this.stream.write("\r\u001b[K");
  }

  private draw(): void {
    const width = 24;
    // The total of sparse files is an estimate (allocated blocks); never show more done than total.
    const total = Math.max(this.total, this.done);
    const frac = total > 0 ? this.done / total : 1;
    const filled = Math.round(frac * width);
    const secs = Math.max((Date.now() - this.started) / 1000, 0.001);
    const bar = `${"#".repeat(filled)}${"-".repeat(width - filled)}`;
    this.stream.write(
      `\r\u001b[K${this.label} [${bar}] ${formatBytes(this.done)} / ${formatBytes(total)}  ${formatBytes(this.done / secs)}/s`,
    );
  }
}
