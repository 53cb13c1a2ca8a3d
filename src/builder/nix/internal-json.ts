import type { NixEvent } from "../../core/build-events.js";

// Parses the `--log-format internal-json` stream that nix writes on stderr: one `@nix {…}` JSON object
// per line (anything else is plain text). We turn it into a few events the build cares about: which
// derivation is being built, its log lines, other long activities (copying, downloading), and
// warnings / errors, with nix's colour codes removed.

// Activity and result type numbers from nix's logging.hh.
const ACT_COPY_PATH = 100;
const ACT_FILE_TRANSFER = 101;
const ACT_BUILDS = 104;
const ACT_BUILD = 105;
const ACT_SUBSTITUTE = 108;
const RES_BUILD_LOG_LINE = 101;
const RES_SET_PHASE = 104;
const RES_PROGRESS = 105;

const ANSI = /\u001b\[[0-9;]*[A-Za-z]/g;

export function stripAnsi(s: string): string {
  return s.replace(ANSI, "");
}

/** `/nix/store/<hash>-hello-1.0.drv` → `hello-1.0`. */
export function drvName(drvPath: string): string {
  const base = drvPath.slice(drvPath.lastIndexOf("/") + 1);
  return base.replace(/^[0-9a-z]{32}-/, "").replace(/\.drv$/, "");
}

interface RawEntry {
  action?: unknown;
  id?: unknown;
  type?: unknown;
  level?: unknown;
  text?: unknown;
  msg?: unknown;
  fields?: unknown;
}

/** Stateful: remembers which activity id is which derivation so that log lines can name it. */
export class NixLogParser {
  private readonly builds = new Map<number, string>();
  private buildsActivity = -1;

  parseLine(line: string): NixEvent | undefined {
    if (!line.startsWith("@nix ")) {
      const text = stripAnsi(line).trimEnd();
      return text === "" ? undefined : { kind: "raw", text };
    }
    let e: RawEntry;
    try {
      e = JSON.parse(line.slice(5)) as RawEntry;
    } catch {
      return { kind: "raw", text: stripAnsi(line) };
    }
    const id = typeof e.id === "number" ? e.id : -1;
    const fields = Array.isArray(e.fields) ? (e.fields as unknown[]) : [];
    switch (e.action) {
      case "start": {
        const text = typeof e.text === "string" ? stripAnsi(e.text) : "";
        if (e.type === ACT_BUILD) {
          const drv = typeof fields[0] === "string" ? fields[0] : "";
          const name = drvName(drv);
          this.builds.set(id, name);
          return { kind: "build-start", id, drv, name, text };
        }
        if (e.type === ACT_BUILDS) this.buildsActivity = id;
        if (e.type === ACT_COPY_PATH || e.type === ACT_FILE_TRANSFER || e.type === ACT_SUBSTITUTE)
          return { kind: "activity-start", id, text };
        return undefined;
      }
      case "stop":
        this.builds.delete(id);
        return { kind: "stop", id };
      case "result": {
        if (e.type === RES_BUILD_LOG_LINE && typeof fields[0] === "string")
          return { kind: "log", id, name: this.builds.get(id), line: stripAnsi(fields[0]) };
        if (e.type === RES_SET_PHASE && typeof fields[0] === "string")
          return { kind: "phase", id, name: this.builds.get(id), phase: fields[0] };
        if (e.type === RES_PROGRESS && id === this.buildsActivity && fields.length >= 4) {
          const [done, expected, running, failed] = fields.map((f) => (typeof f === "number" ? f : 0));
          return { kind: "progress", done: done!, expected: expected!, running: running!, failed: failed! };
        }
        return undefined;
      }
      case "msg": {
        const level = typeof e.level === "number" ? e.level : 3;
        const text = typeof e.msg === "string" ? stripAnsi(e.msg) : "";
        return { kind: "message", level, text };
      }
      default:
        return undefined;
    }
  }
}

/** Human rendering of an event for the build log file (undefined: not worth a line). */
export function logFileLine(e: NixEvent): string | undefined {
  switch (e.kind) {
    case "build-start":
      return e.text || `building ${e.name}`;
    case "activity-start":
      return e.text || undefined;
    case "log":
      return `${e.name ?? "nix"}> ${e.line}`;
    case "phase":
      return `${e.name ?? "nix"}> (phase ${e.phase})`;
    case "message":
      return e.level <= 3 ? e.text : undefined;
    case "raw":
      return e.text;
    default:
      return undefined;
  }
}
