import { promises as fs } from "node:fs";
import { join } from "node:path";
import { MvmError } from "../core/errors.js";
import { runProgram } from "../host/process.js";
import { missingPackage } from "./sources.js";

/** Compiler flags (warnings, hardening), one per line, shared with the Nix recipe. */
const CFLAGS_FILE = "cflags";

async function agentFlags(agentDir: string): Promise<string[]> {
  const text = await fs.readFile(join(agentDir, CFLAGS_FILE), "utf8");
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
}

/** The agent's C sources, sorted, as [name, bytes]: part of the kit's input fingerprint. */
export async function agentSources(agentDir: string): Promise<Array<[string, Buffer]>> {
  const names = (await fs.readdir(agentDir))
    .filter((n) => n.endsWith(".c") || n.endsWith(".h") || n === CFLAGS_FILE)
    .sort();
  if (!names.some((n) => n.endsWith(".c"))) throw new MvmError("internal", `no agent sources in ${agentDir}`);
  return Promise.all(
    names.map(async (n): Promise<[string, Buffer]> => [n, await fs.readFile(join(agentDir, n))]),
  );
}

export async function compilerVersion(cc: string): Promise<string> {
  const r = await runProgram(cc, ["--version"], {
    missing: () => missingPackage(`the C compiler (${cc})`, "gcc"),
  });
  if (r.code !== 0) throw new MvmError("external", `${cc} --version failed: ${r.stderr.trim()}`);
  return r.stdout.split("\n")[0] ?? "";
}

/**
 * Compiles the agent as one static binary. Relative file names, no debug info and a stripped
 * result keep the bytes identical from run to run.
 */
export async function compileAgent(cc: string, agentDir: string, outFile: string): Promise<void> {
  const sources = (await fs.readdir(agentDir)).filter((n) => n.endsWith(".c")).sort();
  const flags = await agentFlags(agentDir);
  const r = await runProgram(cc, ["-static", "-s", ...flags, "-o", outFile, ...sources], {
    cwd: agentDir,
    missing: () => missingPackage(`the C compiler (${cc})`, "gcc"),
  });
  if (r.code === 0) return;
  if (/cannot find -lc\b|crt1\.o|stdio\.h: No such file/.test(r.stderr))
    throw missingPackage("the static C library (libc.a)", "libc6-dev");
  const last = r.stderr.trim().split("\n").slice(-8);
  throw new MvmError("external", `compiling the guest agent failed (${cc} exit ${r.code})`, {
    hint: last.join("\n"),
  });
}
