import { MvmError } from "../core/errors.js";
import { sleep } from "../host/process.js";

// Retries with exponential backoff for transfers that fail for reasons a second attempt can fix: a
// dropped connection, a 5xx or 429 answer. Everything else (4xx, checksum mismatch, bad input) fails
// at once. MVM_REGISTRY_RETRIES sets the number of extra attempts (default 4, 0 disables retrying).

const RETRYABLE_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ETIMEDOUT",
  "ECONNABORTED",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "ERR_STREAM_PREMATURE_CLOSE",
]);

/** An HTTP answer a retry may fix. */
export class TransientError extends MvmError {
  constructor(message: string) {
    super("network", message);
  }
}

export function isRetryable(e: unknown): boolean {
  if (e instanceof TransientError) return true;
  if (e instanceof MvmError) return false;
  let cur: unknown = e;
  for (let depth = 0; cur && depth < 5; depth++) {
    const err = cur as { code?: unknown; name?: unknown; $metadata?: { httpStatusCode?: number } };
    if (typeof err.code === "string" && RETRYABLE_CODES.has(err.code)) return true;
    const status = err.$metadata?.httpStatusCode;
    if (typeof status === "number" && (status >= 500 || status === 429)) return true;
    if (err.name === "TimeoutError" || err.name === "RequestTimeout") return true;
    if (cur instanceof Error && /socket hang up|terminated|other side closed/i.test(cur.message)) return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}

export function retryAttempts(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.MVM_REGISTRY_RETRIES);
  return env.MVM_REGISTRY_RETRIES !== undefined && Number.isInteger(n) && n >= 0 && n <= 20 ? n : 4;
}

export async function withRetry<T>(
  what: string,
  fn: (attempt: number) => Promise<T>,
  opts: { retries?: number; baseMs?: number; onRetry?: (e: unknown, attempt: number) => void } = {},
): Promise<T> {
  const retries = opts.retries ?? retryAttempts();
  const base = opts.baseMs ?? 250;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (attempt >= retries || !isRetryable(e)) {
        if (e instanceof MvmError) throw e;
        throw new MvmError("network", `${what}: ${describeNetworkError(e)}`, { cause: e });
      }
      opts.onRetry?.(e, attempt + 1);
      const delay = Math.min(base * 2 ** attempt, 8000) * (0.5 + Math.random() / 2);
      await sleep(delay);
    }
  }
}

/** A one-line description of a network or SDK failure (undici hides the reason in `cause`). */
export function describeNetworkError(e: unknown): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let depth = 0; cur && depth < 4; depth++) {
    const msg = cur instanceof Error ? cur.message : String(cur);
    const code = (cur as { code?: unknown }).code;
    const piece = typeof code === "string" && !msg.includes(code) ? `${msg} (${code})` : msg;
    if (piece && !parts.includes(piece)) parts.push(piece);
    cur = (cur as { cause?: unknown }).cause;
  }
  return parts.join(": ") || "unknown error";
}
