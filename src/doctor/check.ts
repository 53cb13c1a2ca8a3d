import { spawn } from "node:child_process";

export type CheckStatus = "ok" | "warn" | "fail";

/** One line of `mvmctl doctor`: what was checked, what was found, and the command that fixes it. */
export interface DoctorCheck {
  name: string;
  status: CheckStatus;
  detail: string;
  fix?: string;
}

export type CheckFn = () => Promise<DoctorCheck | DoctorCheck[]>;

/** Runs a program (argv, no shell) with a time limit; never throws. */
export function probe(
  cmd: string,
  args: string[],
  timeoutMs = 10_000,
): Promise<{ ok: boolean; code: number | null; stdout: string; stderr: string; missing: boolean }> {
  return new Promise((resolve) => {
    let stdout = "";
    let stderr = "";
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    } catch {
      resolve({ ok: false, code: null, stdout, stderr, missing: true });
      return;
    }
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout?.on("data", (d) => {
      stdout += d;
    });
    child.stderr?.on("data", (d) => {
      stderr += d;
    });
    child.on("error", (e) => {
      clearTimeout(timer);
      resolve({
        ok: false,
        code: null,
        stdout,
        stderr: e.message,
        missing: (e as NodeJS.ErrnoException).code === "ENOENT",
      });
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ ok: code === 0, code, stdout, stderr, missing: false });
    });
  });
}

export function firstLine(s: string): string {
  return s.trim().split("\n")[0]?.trim() ?? "";
}
