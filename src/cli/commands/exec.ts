import type { Command } from "commander";
import { usageError } from "../../core/errors.js";
import { connectVmGuest } from "../../vm/guest-connect.js";
import { signalGuestProcess, startExec } from "../../guest/exec.js";
import { warn } from "../ui/output.js";
import type { CliContext } from "../context.js";
import { NO_DAEMON_HELP, runningDaemon } from "../daemon-route.js";
import { wholeNumber } from "../parse.js";

interface ExecOpts {
  interactive?: boolean;
  tty?: boolean;
  env: string[];
  workdir?: string;
  user?: string;
  timeout?: number;
  /** false with --no-daemon. */
  daemon: boolean;
}

/** The command ran out of --timeout (as coreutils' timeout reports it). */
const TIMED_OUT_EXIT = 124;

function parseEnv(v: string, prev: string[]): string[] {
  const eq = v.indexOf("=");
  if (eq <= 0) throw usageError(`invalid --env ${JSON.stringify(v)}: expected KEY=VALUE`);
  if (v.includes("\0")) throw usageError("--env values cannot contain NUL bytes");
  return [...prev, v];
}

function envObject(pairs: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf("=");
    env[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return env;
}

export function registerExec(program: Command, ctx: CliContext): void {
  program
    .command("exec")
    .description("Run a command in a running VM; exits with the command's status")
    .usage("[options] <vm> -- <command> [args...]")
    .argument("<vm>", "VM name (see 'mvmctl ls')")
    .argument("<command...>", "the program and its arguments (no shell: run 'sh -c ...' for one)")
    .option("-i, --interactive", "send this terminal's stdin to the command")
    .option("-t, --tty", "run the command on a terminal (stdout and stderr arrive together)")
    .option("-e, --env <KEY=VALUE>", "set an environment variable (repeatable)", parseEnv, [])
    .option("-w, --workdir <dir>", "working directory in the guest (absolute)")
    .option("-u, --user <user>", "user name, UID or UID:GID in the guest (default root)")
    .option(
      "--timeout <seconds>",
      "kill the command after this many seconds",
      wholeNumber("--timeout", 1, 604800),
    )
    .option("--no-daemon", NO_DAEMON_HELP)
    .action(async (vm: string, command: string[], opts: ExecOpts) => {
      if (opts.workdir !== undefined && !opts.workdir.startsWith("/"))
        throw usageError(`--workdir must be an absolute guest path, got ${JSON.stringify(opts.workdir)}`);
      // Through a running daemon, except on a terminal (-t), which the API does not carry.
      const daemon = opts.tty ? undefined : await runningDaemon(ctx, opts);
      if (daemon) {
        const { execThroughDaemon } = await import("./exec-daemon.js");
        const r = await execThroughDaemon(daemon, {
          vm,
          argv: command,
          env: envObject(opts.env),
          ...(opts.workdir ? { cwd: opts.workdir } : {}),
          ...(opts.user ? { user: opts.user } : {}),
          ...(opts.timeout ? { timeoutMs: opts.timeout * 1000 } : {}),
          ...(opts.interactive ? { stdin: process.stdin } : {}),
        });
        if (r.timedOut) {
          warn(`the command ran longer than ${opts.timeout}s and was killed`);
          process.exitCode = TIMED_OUT_EXIT;
        } else process.exitCode = r.code ?? 128 + (r.signal ?? 0);
        if (opts.interactive) process.stdin.destroy();
        return;
      }
      const { channel } = await connectVmGuest(ctx.paths, vm);
      const tty = opts.tty === true;
      const stdin = opts.interactive || tty ? process.stdin : undefined;
      const rawTerminal = tty && process.stdin.isTTY === true;
      if (tty && !process.stdout.isTTY && !opts.interactive) warn("--tty without a terminal on stdout");
      let interrupts = 0;
      let running: ReturnType<typeof startExec>;
      try {
        running = startExec(
          channel,
          {
            argv: command,
            env: envObject(opts.env),
            ...(opts.workdir ? { cwd: opts.workdir } : {}),
            ...(opts.user ? { user: opts.user } : {}),
            ...(opts.timeout ? { timeoutMs: opts.timeout * 1000 } : {}),
            ...(tty ? { pty: { rows: process.stdout.rows || 24, cols: process.stdout.columns || 80 } } : {}),
          },
          { ...(stdin ? { stdin } : {}), stdout: process.stdout, stderr: process.stderr },
        );
      } catch (e) {
        channel.close();
        throw e;
      }
      // Without a terminal in raw mode, Ctrl-C is for the command: pass it on; a second one leaves it
      // running in the guest (see 'mvmctl ps') and returns.
      const onInterrupt = (sig: "SIGINT" | "SIGTERM" | "SIGHUP") => {
        const pid = running.pid();
        interrupts++;
        if (pid === undefined || interrupts > 1) {
          channel.close("interrupted");
          process.exit(130);
        }
        signalGuestProcess(channel, pid, sig.slice(3)).catch(() => {});
      };
      const onWinch = () => running.resize(process.stdout.rows || 24, process.stdout.columns || 80);
      for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, onInterrupt);
      if (tty) process.on("SIGWINCH", onWinch);
      if (rawTerminal) process.stdin.setRawMode(true);
      try {
        const r = await running.result;
        if (r.timedOut) {
          warn(`the command ran longer than ${opts.timeout}s and was killed`);
          process.exitCode = TIMED_OUT_EXIT;
        } else process.exitCode = r.code ?? 128 + (r.signal ?? 0);
      } finally {
        if (rawTerminal) process.stdin.setRawMode(false);
        for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.off(s, onInterrupt);
        process.off("SIGWINCH", onWinch);
        channel.close();
        if (stdin) process.stdin.destroy();
      }
    });
}
