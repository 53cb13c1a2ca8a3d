import type { BuildProgress } from "../../core/build-events.js";
import { paint } from "./output.js";
import { sanitize } from "./sanitize.js";
import { StatusLine } from "./status-line.js";

// Renders a build's progress on stderr: on a terminal a live line that follows the steps and nix (which
// derivation builds, its latest log line), with only warnings printed for good; otherwise plain lines —
// one per step and per derivation started, never nix's full log (that is in the build log file). Nix
// relays the flake's builder output, so every line goes through the sanitiser.

export class BuildProgressView {
  private readonly status = new StatusLine();
  private readonly started = new Set<string>();
  private current = "";

  readonly onProgress = (p: BuildProgress): void => {
    switch (p.stage) {
      case "step":
        // On a terminal steps live in the status line, so a cache hit ends as one "up to date" line;
        // elsewhere (CI logs) each step is a line of its own.
        if (this.status.live) this.status.set(p.message);
        else this.line(`${paint("dim", "[mvm]")} ${sanitize(p.message)}`);
        break;
      case "warning":
        this.line(`${paint("yellow", "warning:")} ${sanitize(p.message)}`);
        break;
      case "nix":
        this.nix(p.event);
        break;
    }
  };

  private nix(e: Extract<BuildProgress, { stage: "nix" }>["event"]): void {
    switch (e.kind) {
      case "build-start":
        this.current = e.name;
        if (!this.status.live && !this.started.has(e.name))
          this.line(`${paint("dim", "[nix]")} ${sanitize(e.text)}`);
        this.started.add(e.name);
        this.status.set(e.text);
        break;
      case "activity-start":
        if (e.text) this.status.set(e.text);
        break;
      case "log":
        this.status.set(`${e.name ?? this.current}: ${e.line}`);
        break;
      case "phase":
        this.status.set(`${e.name ?? this.current}: ${e.phase}`);
        break;
      case "progress":
        if (e.expected > 1)
          this.status.set(
            `built ${e.done}/${e.expected} derivations${this.current ? ` (${this.current})` : ""}`,
          );
        break;
      case "message":
        if (e.level === 1)
          this.line(`${paint("yellow", "warning:")} ${sanitize(e.text.replace(/^warning: /, ""))}`);
        break;
      default:
        break;
    }
  }

  private line(s: string): void {
    if (this.status.live) this.status.print(s);
    else process.stderr.write(`${s}\n`);
  }

  done(): void {
    this.status.done();
  }
}
