import { type DoctorCheck, firstLine } from "../core/doctor.js";
import { runProgram } from "./process.js";
import { lookupTool, type ToolLookup, toolLabel } from "./tools.js";

// `mvmctl doctor` rows about the host's programs: found or not (and what chose them), and what their
// --version says.

/** Runs a program (argv, no shell) with a time limit; never throws. */
export async function probe(
  cmd: string,
  args: string[],
  timeoutMs = 10_000,
): Promise<{ ok: boolean; code: number | null; stdout: string; stderr: string; missing: boolean }> {
  const missing = new Error("not found");
  try {
    const r = await runProgram(cmd, args, { timeoutMs, missing: () => missing as never });
    return {
      ok: r.code === 0 && !r.timedOut,
      code: r.timedOut ? null : r.code,
      stdout: r.stdout,
      stderr: r.stderr,
      missing: false,
    };
  } catch (e) {
    return { ok: false, code: null, stdout: "", stderr: (e as Error).message, missing: e === missing };
  }
}

/** The row for a tool that cannot be found: what chose it (the variable or PATH) and how to fix it. */
export function missingTool(name: string, found: ToolLookup): DoctorCheck {
  return { name, status: "fail", detail: found.problem ?? `${name} not found`, fix: found.install };
}

/** The version line, and which binary it came from when a variable chose it. */
export function versionDetail(found: ToolLookup, output: string): string {
  return found.chosenBy ? `${firstLine(output)} (${toolLabel(found)})` : firstLine(output);
}

/**
 * A tool's row: found, runs `--version`, and is what it claims to be (its version line matches
 * `expect`, so a variable pointing at another program is caught).
 */
export async function checkToolVersion(
  name: string,
  tool: Parameters<typeof lookupTool>[0],
  expect: RegExp,
): Promise<DoctorCheck> {
  const found = lookupTool(tool);
  if (!found.path) return missingTool(name, found);
  const v = await probe(found.path, ["--version"]);
  if (!v.ok)
    return {
      name,
      status: "fail",
      detail: `${toolLabel(found)} --version failed: ${firstLine(v.stderr) || `exit status ${v.code}`}`,
      fix: found.install,
    };
  if (!expect.test(v.stdout))
    return {
      name,
      status: "fail",
      detail: `${toolLabel(found)} is not ${tool}: its --version printed ${JSON.stringify(firstLine(v.stdout).slice(0, 80))}`,
      fix: found.install,
    };
  return { name, status: "ok", detail: versionDetail(found, v.stdout) };
}
