import { paint } from "./output.js";
import { sanitize } from "./sanitize.js";

// One live line at the bottom of a terminal (progress of a long step), with ordinary lines printed
// above it. Off a terminal nothing is drawn: callers print plain lines instead.

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const MIN_INTERVAL_MS = 80;

export class StatusLine {
  private text = "";
  private shown = false;
  private frame = 0;
  private lastDraw = 0;
  private timer: NodeJS.Timeout | undefined;
  readonly live: boolean;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {
    this.live = Boolean(stream.isTTY);
  }

  /** Replaces the live line (drawn at most every 80 ms; the spinner keeps turning while it waits). */
  set(text: string): void {
    if (!this.live) return;
    this.text = text;
    if (!this.timer) {
      this.timer = setInterval(() => this.draw(), 120);
      this.timer.unref();
    }
    if (Date.now() - this.lastDraw >= MIN_INTERVAL_MS) this.draw();
  }

  /** Prints a whole line above the live line (already sanitised by the caller: it may hold colour). */
  print(line: string): void {
    this.erase();
    this.stream.write(`${line}\n`);
    if (this.text) this.draw();
  }

  /** Removes the live line for good. */
  done(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.erase();
    this.text = "";
  }

  private erase(): void {
    if (this.shown) this.stream.write("\r\u001b[K");
    this.shown = false;
  }

  private draw(): void {
    if (!this.text) return;
    this.lastDraw = Date.now();
    this.frame = (this.frame + 1) % FRAMES.length;
    const width = Math.max(20, (this.stream.columns ?? 80) - 1);
    const line = `${FRAMES[this.frame]} ${sanitize(this.text.replace(/[\r\n\t]+/g, " "), width)}`;
    const cut = line.length > width ? `${line.slice(0, width - 1)}…` : line;
    this.stream.write(`\r\u001b[K${paint("dim", cut, this.stream)}`);
    this.shown = true;
  }
}
