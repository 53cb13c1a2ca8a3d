import { createHash, randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { type CliResult, runCli, tempDir } from "./cli.js";

export function nonce(): string {
  return randomBytes(6).toString("hex");
}

export function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

export function readJson<T = Record<string, unknown>>(path: string): T {
  return JSON.parse(readFileSync(path, "utf8")) as T;
}

/** A CLI runner bound to one data dir, with NO_COLOR and offline builds. */
export function cliFor(dataDir: string, env: Record<string, string | undefined> = {}) {
  return (
    args: string[],
    extra: { env?: Record<string, string | undefined>; cwd?: string } = {},
  ): Promise<CliResult> =>
    runCli(args, {
      dataDir,
      env: { ...env, ...extra.env },
      timeoutMs: 180_000,
      ...(extra.cwd ? { cwd: extra.cwd } : {}),
    });
}

export function revisionDir(dataDir: string, template: string, rev: string): string {
  return join(dataDir, "templates", template, "artifacts", "revisions", rev);
}

/** Lines of stderr that start with "error:". */
export function errorLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.startsWith("error:"));
}

const scratchDirs: string[] = [];
process.on("exit", () => {
  // Test data dirs hold packed images of hundreds of MiB (sparse); keep them only when asked to.
  if (process.env.MVM_KEEP_TEST_DIRS) return;
  for (const d of scratchDirs) rmSync(d, { recursive: true, force: true });
});

/** A temp directory removed when the test process exits (MVM_KEEP_TEST_DIRS=1 keeps it). */
export function scratch(prefix: string): string {
  const d = tempDir(prefix);
  scratchDirs.push(d);
  return d;
}

/** Every regular file and directory under `root` with its mode (and content hash for files), sorted. */
export function treeManifest(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      const mode = (statSync(p).mode & 0o777).toString(8);
      if (e.isDirectory()) {
        out.push(`d ${relative(root, p)} ${mode}`);
        walk(p);
      } else if (e.isFile()) out.push(`f ${relative(root, p)} ${mode} ${sha256(p)}`);
    }
  };
  walk(root);
  return out;
}

/**
 * A small tree for copy tests at `root`: a text file, an executable script (a/run.sh prints "hi"), a
 * 300 KB binary of mode 0600 and a directory of mode 0750.
 */
export function writeSampleTree(root: string): void {
  mkdirSync(join(root, "a", "b"), { recursive: true });
  writeFileSync(join(root, "top.txt"), "top\n");
  writeFileSync(join(root, "a", "run.sh"), "#!/bin/sh\necho hi\n");
  chmodSync(join(root, "a", "run.sh"), 0o755);
  writeFileSync(join(root, "a", "b", "data.bin"), randomBytes(300_000));
  chmodSync(join(root, "a", "b", "data.bin"), 0o600);
  chmodSync(join(root, "a", "b"), 0o750);
}
