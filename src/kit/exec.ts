import { spawn } from "node:child_process";
import { MvmError } from "../core/errors.js";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Buffer;
}

/** Runs a program with an argv array (never a shell) and collects its output. ENOENT → `missing`. */
export function runProgram(
  program: string,
  args: string[],
  opts: { cwd?: string; missing?: () => MvmError } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { cwd: opts.cwd, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT" && opts.missing) reject(opts.missing());
      else reject(new MvmError("external", `cannot run ${program}: ${e.message}`, { cause: e }));
    });
    child.on("close", (code, signal) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdoutBytes,
        stdout: stdoutBytes.toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      });
    });
  });
}
