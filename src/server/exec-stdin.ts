import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import { ApiError } from "./api-error.js";

// A streamed exec request (`Content-Type: application/x-ndjson`): the first line is the exec request
// object (as in a JSON body, without `stdin`), every later line is {"stdin":"<base64>"} and feeds the
// command's standard input as it arrives, and {"eof":true} or the end of the request body closes it.
// The request body is read only as fast as the guest takes the input, so a client streaming a large
// input never makes the daemon buffer more than one line. A malformed line ends the command.

/** Longest line of a streamed exec request (a stdin line of 768 KiB of data base64-encoded). */
export const MAX_STREAM_LINE = 1024 * 1024;

function bad(message: string): ApiError {
  return new ApiError(400, "invalid_request", message);
}

async function* lines(req: IncomingMessage): AsyncGenerator<string> {
  let buf = "";
  for await (const chunk of req) {
    buf += (chunk as Buffer).toString("utf8");
    let nl = buf.indexOf("\n");
    while (nl >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) yield line;
      nl = buf.indexOf("\n");
    }
    if (buf.length > MAX_STREAM_LINE)
      throw new ApiError(
        413,
        "body_too_large",
        `a line of the exec request exceeds ${MAX_STREAM_LINE} bytes`,
      );
  }
  if (buf.trim()) yield buf.trim();
}

function parseLine(line: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new ApiError(400, "invalid_json", `${what} is not valid JSON`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad(`${what} must be a JSON object`);
  return v as Record<string, unknown>;
}

/** The exec request (first line) and the standard input that follows it. */
export async function openExecStream(
  req: IncomingMessage,
  onBadInput: (e: ApiError) => void,
): Promise<{ request: Record<string, unknown>; stdin: Readable }> {
  const it = lines(req);
  const first = await it.next();
  if (first.done) throw bad("a streamed exec request starts with the exec request object on its first line");
  const request = parseLine(first.value, "the first line of the exec request");
  if (request.stdin !== undefined)
    throw bad('a streamed exec request sends its input as {"stdin":…} lines, not in the first line');
  async function* input(): AsyncGenerator<Buffer> {
    try {
      yield* frames();
    } catch (e) {
      onBadInput(e instanceof ApiError ? e : bad("the exec request's input failed"));
    }
  }
  async function* frames(): AsyncGenerator<Buffer> {
    let n = 1;
    for await (const line of { [Symbol.asyncIterator]: () => it }) {
      n++;
      const frame = parseLine(line, `line ${n} of the exec request`);
      if (frame.eof === true && Object.keys(frame).length === 1) return;
      const data = frame.stdin;
      if (typeof data !== "string" || Object.keys(frame).length !== 1 || !/^[A-Za-z0-9+/]*={0,2}$/.test(data))
        throw bad(`line ${n} of the exec request must be {"stdin":"<base64>"} or {"eof":true}`);
      if (data.length > 0) yield Buffer.from(data, "base64");
    }
  }
  return { request, stdin: Readable.from(input(), { objectMode: false }) };
}
