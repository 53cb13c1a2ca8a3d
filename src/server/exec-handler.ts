import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable, Writable } from "node:stream";
import { connectVmGuest } from "../vm/guest-connect.js";
import { startExec } from "../guest/exec.js";
import { type ApiError, toApiError } from "./api-error.js";
import { readJsonObject, sendJson } from "./body.js";
import { openExecStream } from "./exec-stdin.js";
import { parseExec } from "./validate.js";
import type { VmService } from "./vm-service.js";

// POST /v1/vms/{name}/exec. Buffered (the default): one JSON result with stdout and stderr as UTF-8
// text, each capped. Streaming (`Accept: application/x-ndjson`): one JSON frame per line as output
// arrives ({"type":"stdout"|"stderr","data":base64}), then {"type":"exit",...}, or
// {"type":"error",code,message} when the guest connection fails midway. A slow reader slows the
// command down, since the guest's output is acknowledged only once written to the response. Standard
// input is `stdin` text in the JSON body, or streamed: see exec-stdin.ts.

/** Output kept per stream in a buffered result. */
export const MAX_BUFFERED_OUTPUT = 8 * 1024 * 1024;

class CappedSink extends Writable {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    const room = MAX_BUFFERED_OUTPUT - this.size;
    if (chunk.length > room) this.truncated = true;
    const part = chunk.subarray(0, Math.max(0, room));
    if (part.length > 0) {
      this.chunks.push(part);
      this.size += part.length;
    }
    cb();
  }

  text(): string {
    return Buffer.concat(this.chunks).toString("utf8");
  }
}

class FrameSink extends Writable {
  constructor(
    private readonly res: ServerResponse,
    private readonly type: "stdout" | "stderr",
  ) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.res.write(`${JSON.stringify({ type: this.type, data: chunk.toString("base64") })}\n`, () => cb());
  }
}

export async function handleExec(
  vms: VmService,
  name: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  // Declared before the guest is connected: a bad input line may arrive at any time.
  let badInput: ApiError | undefined;
  let onBadInput = (e: ApiError) => {
    badInput ??= e;
  };
  const streamedInput = /^application\/x-ndjson\b/i.test(req.headers["content-type"] ?? "");
  const opened = streamedInput
    ? await openExecStream(req, (e) => onBadInput(e))
    : { request: await readJsonObject(req), stdin: undefined };
  const body = parseExec(opened.request);
  await vms.requireRunning(name);
  const env = { ...(await vms.env(name)), ...body.env };
  const { channel } = await connectVmGuest(vms.paths, name);
  onBadInput = (e) => {
    badInput ??= e;
    channel.close(e.message);
  };
  if (badInput) channel.close(badInput.message);
  const streaming = /application\/x-ndjson/.test(req.headers.accept ?? "");
  const stdout = streaming ? new FrameSink(res, "stdout") : new CappedSink();
  const stderr = streaming ? new FrameSink(res, "stderr") : new CappedSink();
  res.on("close", () => {
    if (!res.writableFinished) channel.close("the API client went away");
  });
  const ended = (frame: Record<string, unknown>) => {
    if (!res.headersSent) res.writeHead(200, { "content-type": "application/x-ndjson" });
    res.end(`${JSON.stringify(frame)}\n`);
  };
  try {
    const running = startExec(
      channel,
      {
        argv: body.argv,
        env,
        ...(body.cwd ? { cwd: body.cwd } : {}),
        ...(body.user ? { user: body.user } : {}),
        ...(body.timeout_ms ? { timeoutMs: body.timeout_ms } : {}),
      },
      {
        ...(opened.stdin
          ? { stdin: opened.stdin }
          : body.stdin !== undefined
            ? { stdin: Readable.from([Buffer.from(body.stdin, "utf8")]) }
            : {}),
        stdout,
        stderr,
        onStart: (pid) => {
          if (streaming) {
            res.writeHead(200, { "content-type": "application/x-ndjson" });
            res.write(`${JSON.stringify({ type: "start", pid })}\n`);
          }
        },
      },
    );
    const r = await running.result.catch((e: unknown) => {
      // Once the stream has begun, a failure is its last frame rather than an HTTP status.
      if (!streaming || !res.headersSent) throw badInput ?? e;
      const err = badInput ?? toApiError(e);
      ended({ type: "error", code: err.code, message: err.message });
      return undefined;
    });
    if (!r) return;
    const exit = { exit_code: r.code, signal: r.signal, timed_out: r.timedOut, pid: r.pid };
    if (streaming) {
      ended({ type: "exit", ...exit });
      return;
    }
    const out = stdout as CappedSink;
    const err = stderr as CappedSink;
    sendJson(res, 200, {
      ...exit,
      stdout: out.text(),
      stderr: err.text(),
      stdout_truncated: out.truncated,
      stderr_truncated: err.truncated,
    });
  } finally {
    channel.close();
  }
}
