import { spawn } from "node:child_process";
import { MvmError } from "../../core/errors.js";
import { lookupTool, toolLabel, toolMissingError } from "../../host/tools.js";
import type { BuildLog } from "./log-file.js";
import type { NixEvent } from "../../core/build-events.js";
import { logFileLine, NixLogParser } from "./internal-json.js";

// Every nix invocation goes through here: argv only (never a shell), flakes enabled, single-user root
// settings, machine-readable progress on stderr, and the exit status always checked by the caller.

export interface NixInvocation {
  /** The subcommand and its arguments, e.g. ["build", "--json", "--no-link", ref]. */
  args: string[];
  /** No binary caches: used for flakes whose inputs are all local, and when MVM_OFFLINE=1. */
  offline: boolean;
  log?: BuildLog;
  onEvent?: (e: NixEvent) => void;
  /** Called with the child's pid once it runs, so that an interrupt can stop it. */
  onSpawn?: (pid: number) => void;
}

export interface NixOutcome {
  code: number;
  stdout: string;
  /** Error messages nix printed (level 0), colour removed, in order. */
  errors: string[];
  warnings: string[];
}

export function nixGlobalArgs(offline: boolean): string[] {
  const args = ["--extra-experimental-features", "nix-command flakes", "--log-format", "internal-json"];
  // Debian's nix-bin run by root is a single-user install without nixbld users.
  if (process.getuid?.() === 0) args.push("--option", "build-users-group", "");
  // No binary caches, and flake sources already fetched count as up to date (no network at all).
  if (offline) args.push("--offline", "--option", "substituters", "");
  return args;
}

export function runNix(inv: NixInvocation): Promise<NixOutcome> {
  return new Promise((resolve, reject) => {
    // MVM_NIX, else nix on PATH: found the way doctor finds it, and a miss names what chose the binary.
    const nix = lookupTool("nix");
    if (!nix.path) {
      reject(toolMissingError(nix));
      return;
    }
    const argv = [...nixGlobalArgs(inv.offline), ...inv.args];
    inv.log?.note(
      `$ ${nix.path} ${argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(" ")}`,
    );
    const child = spawn(nix.path, argv, { stdio: ["ignore", "pipe", "pipe"] });
    const parser = new NixLogParser();
    const errors: string[] = [];
    const warnings: string[] = [];
    const out: Buffer[] = [];
    let pending = "";
    const handle = (line: string) => {
      const e = parser.parseLine(line);
      if (!e) return;
      if (e.kind === "message" && e.level === 0) errors.push(e.text.replace(/^error: /, ""));
      if (e.kind === "message" && e.level === 1) warnings.push(e.text.replace(/^warning: /, ""));
      if (e.kind === "raw" && /^warning: /.test(e.text)) warnings.push(e.text.replace(/^warning: /, ""));
      if (e.kind === "raw" && /^error: /.test(e.text)) errors.push(e.text.replace(/^error: /, ""));
      if (inv.log) {
        const text = logFileLine(e);
        if (text !== undefined) for (const l of text.split("\n")) inv.log.line(l);
      }
      inv.onEvent?.(e);
    };
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (d: string) => {
      pending += d;
      let i = pending.indexOf("\n");
      while (i >= 0) {
        handle(pending.slice(0, i));
        pending = pending.slice(i + 1);
        i = pending.indexOf("\n");
      }
    });
    child.on("spawn", () => {
      if (child.pid !== undefined) inv.onSpawn?.(child.pid);
    });
    child.on("error", (e: NodeJS.ErrnoException) => {
      reject(
        new MvmError("external", `cannot run nix (${toolLabel(nix)}): ${e.message}`, {
          hint: nix.install,
        }),
      );
    });
    child.on("close", (code, signal) => {
      if (pending !== "") handle(pending);
      const status = code ?? 128 + (signal === "SIGKILL" ? 9 : signal === "SIGINT" ? 2 : 15);
      inv.log?.note(`(nix exited with status ${code ?? `signal ${signal}`})`);
      resolve({ code: status, stdout: Buffer.concat(out).toString("utf8"), errors, warnings });
    });
  });
}
