import { setTimeout as sleep } from "node:timers/promises";
import { MvmError, messageOf } from "../../core/errors.js";
import { redactSecrets, redactUrl, rememberSecret } from "../../core/secrets.js";

// One JSON POST to a model server, with the rules every planner call follows: a timeout that covers the
// whole exchange (headers and body), and exactly one retry when the server says it is overloaded or
// broken (429 or 5xx). The API key never appears in an error message: the request's header values are
// masked in any reply body quoted, with every other secret the process knows.

export interface PostOptions {
  headers: Record<string, string>;
  timeoutMs: number;
  /** Names the service in errors, e.g. "openai template planning". */
  label: string;
  /** Pause before the retry; a Retry-After header (seconds, capped) wins. */
  retryDelayMs?: number;
}

export interface HttpReply {
  status: number;
  body: string;
}

const MAX_RETRY_AFTER_MS = 10_000;
/** A plan is a few hundred bytes; a reply far larger than that is refused instead of buffered. */
export const MAX_REPLY_BYTES = 1 << 20;
const MAX_BODY_IN_ERROR = 300;

function retryable(status: number): boolean {
  return status === 429 || (status >= 500 && status <= 599);
}

function retryDelay(res: Response, fallbackMs: number): number {
  const h = res.headers.get("retry-after");
  const secs = h === null ? Number.NaN : Number(h);
  return Number.isFinite(secs) && secs >= 0 ? Math.min(secs * 1000, MAX_RETRY_AFTER_MS) : fallbackMs;
}

/** The first line of a reply body, shortened: enough to see what went wrong, never a page of HTML. */
export function bodySnippet(body: string): string {
  const line = redactSecrets(body).replace(/\s+/g, " ").trim();
  return line.length > MAX_BODY_IN_ERROR ? `${line.slice(0, MAX_BODY_IN_ERROR)}...` : line;
}

async function readBounded(res: Response, label: string): Promise<string> {
  if (!res.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > MAX_REPLY_BYTES) {
      await res.body.cancel().catch(() => {});
      throw new MvmError("external", `${label}: the reply is larger than ${MAX_REPLY_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

async function attempt(
  url: string,
  payload: string,
  opts: PostOptions,
): Promise<{ res: Response; body: string }> {
  const signal = AbortSignal.timeout(opts.timeoutMs);
  try {
    const res = await fetch(url, { method: "POST", headers: opts.headers, body: payload, signal });
    // The same signal bounds reading the body: a server that sends headers and then stalls times out too.
    const body = await readBounded(res, opts.label);
    return { res, body };
  } catch (e) {
    if (e instanceof MvmError) throw e;
    const name = (e as Error | undefined)?.name;
    if (name === "TimeoutError" || name === "AbortError")
      throw new MvmError(
        "timeout",
        `${opts.label} timed out after ${opts.timeoutMs} ms (${redactUrl(url)})`,
        {
          hint: "A slow model may need more time: set MVM_TEMPLATE_LLM_TIMEOUT_MS (milliseconds).",
        },
      );
    const cause = (e as { cause?: unknown }).cause;
    throw new MvmError(
      "network",
      `${opts.label}: cannot reach ${redactUrl(url)}: ${redactSecrets(messageOf(cause ?? e))}`,
    );
  }
}

/** POSTs `payload` as JSON; returns the final reply whatever its status (callers check it). */
export async function postJson(url: string, payload: unknown, opts: PostOptions): Promise<HttpReply> {
  const text = JSON.stringify(payload);
  for (const [name, value] of Object.entries(opts.headers))
    if (/^(authorization|api-key|x-api-key)$/i.test(name)) {
      rememberSecret(value);
      rememberSecret(value.replace(/^\S+\s+/, ""));
    }
  let { res, body } = await attempt(url, text, opts);
  if (retryable(res.status)) {
    await sleep(retryDelay(res, opts.retryDelayMs ?? 1000));
    ({ res, body } = await attempt(url, text, opts));
  }
  return { status: res.status, body };
}

export function httpStatusError(label: string, reply: HttpReply): MvmError {
  return new MvmError(
    "external",
    `${label} failed with HTTP ${reply.status}: ${bodySnippet(reply.body) || "(empty body)"}`,
  );
}
