import type { Writable } from "node:stream";
import { MvmError } from "../../core/errors.js";
import { execBody, frames } from "../../sdk/sandbox.js";
import { type Endpoint, send } from "../../sdk/transport.js";
import { cliError } from "../daemon-route.js";

// `mvmctl exec` through the data dir's daemon: a streaming exec (output as it arrives, stdin streamed
// with -i). Ctrl-C ends the request, and the daemon ends the command with it.

export interface DaemonExec {
  vm: string;
  argv: string[];
  env: Record<string, string>;
  cwd?: string;
  user?: string;
  timeoutMs?: number;
  stdin?: NodeJS.ReadableStream;
}

function write(out: Writable, data: Buffer): Promise<void> {
  return new Promise((resolve) => {
    if (out.write(data)) resolve();
    else out.once("drain", resolve);
  });
}

/** Runs the command; resolves with its exit status (or timed out). */
export async function execThroughDaemon(
  endpoint: Endpoint,
  req: DaemonExec,
): Promise<{ code: number | null; signal: number | null; timedOut: boolean }> {
  const abort = new AbortController();
  const onInterrupt = () => {
    abort.abort();
    process.exit(130);
  };
  for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, onInterrupt);
  try {
    const res = await send(endpoint, {
      method: "POST",
      path: `/v1/vms/${encodeURIComponent(req.vm)}/exec`,
      ...execBody(req.argv, {
        env: req.env,
        ...(req.cwd ? { cwd: req.cwd } : {}),
        ...(req.user ? { user: req.user } : {}),
        ...(req.timeoutMs ? { timeoutMs: req.timeoutMs } : {}),
        ...(req.stdin ? { stdin: req.stdin as AsyncIterable<Buffer> } : {}),
      }),
      accept: "application/x-ndjson",
      signal: abort.signal,
    });
    for await (const f of frames(res)) {
      if (f.type === "stdout") await write(process.stdout, f.data);
      else if (f.type === "stderr") await write(process.stderr, f.data);
      else if (f.type === "exit") return { code: f.exit_code, signal: f.signal, timedOut: f.timed_out };
    }
    throw new MvmError("network", "the daemon ended the exec without the command's exit status");
  } catch (e) {
    throw cliError(e);
  } finally {
    for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.off(s, onInterrupt);
  }
}
