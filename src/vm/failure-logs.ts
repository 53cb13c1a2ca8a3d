import { promises as fs } from "node:fs";
import { basename, join } from "node:path";
import { MvmError, messageOf } from "../core/errors.js";

// A VM that fails to start has its directory removed, and with it the console and hypervisor logs
// that say why. Before that, the logs an error points at are copied to <data>/logs as
// `vm-<name>-<file>` (their last MiB, mode 0600), and the error's hint names the copies instead.

const KEEP_BYTES = 1 << 20;

async function copyTail(from: string, to: string): Promise<boolean> {
  let src: fs.FileHandle;
  try {
    src = await fs.open(from, "r");
  } catch {
    return false;
  }
  try {
    const size = (await src.stat()).size;
    const length = Math.min(size, KEEP_BYTES);
    const buf = Buffer.alloc(length);
    if (length > 0) await src.read(buf, 0, length, size - length);
    await fs.rm(to, { force: true });
    await fs.writeFile(to, buf, { mode: 0o600, flag: "wx" });
    return true;
  } catch {
    return false;
  } finally {
    await src.close();
  }
}

/**
 * Copies every file of `vmDir` that `e`'s hint names, and the VM's console log when given, into
 * `logsDir`, and returns the error (an MvmError: anything else becomes one) with its hint pointing
 * at the copies. `label` tells apart the logs of several attempts of one start ("restore-").
 */
export async function keepFailureLogs(
  e: unknown,
  vmDir: string,
  logsDir: string,
  vmName: string,
  opts: { label?: string; consoleLog?: string } = {},
): Promise<unknown> {
  const err = e instanceof MvmError ? e : new MvmError("external", messageOf(e), { cause: e });
  let hint = err.hint ?? "";
  const named = new Set(
    [...hint.matchAll(/(\/[^\s'"]+)/g)].map((m) => m[1] ?? "").filter((p) => p.startsWith(`${vmDir}/`)),
  );
  const console = opts.consoleLog?.startsWith(`${vmDir}/`) ? opts.consoleLog : undefined;
  if (console) named.add(console);
  if (named.size === 0) return err;
  await fs.mkdir(logsDir, { recursive: true, mode: 0o700 }).catch(() => {});
  for (const path of named) {
    const kept = join(logsDir, `vm-${vmName}-${opts.label ?? ""}${basename(path)}`);
    if (!(await copyTail(path, kept))) continue;
    if (hint.includes(path)) hint = hint.split(path).join(kept);
    else hint = `${hint ? `${hint}; ` : ""}Its console: ${kept}`;
  }
  return new MvmError(err.kind, err.message, { ...(hint ? { hint } : {}), details: err.details, cause: e });
}
