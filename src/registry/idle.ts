import { MvmError } from "../core/errors.js";
import { TransientError } from "./retry.js";

// A download that stops sending (a stalled connection, a server that drips a byte at a time) must not
// hang mvmctl: every wait for the next chunk — the first one included, which covers waiting for the
// response headers — is bounded. MVM_REGISTRY_IDLE_TIMEOUT_MS sets the bound (default 60 s).

export function idleTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.MVM_REGISTRY_IDLE_TIMEOUT_MS);
  return Number.isInteger(n) && n > 0 ? n : 60_000;
}

/**
 * Yields the chunks of `src`, failing with a retryable error when no chunk arrives for `ms`, or when the
 * average rate since the start falls under one byte per `ms` (a drip that keeps the idle timer alive).
 */
export async function* withIdleTimeout<T extends { length: number }>(
  src: AsyncIterable<T>,
  what: string,
  ms = idleTimeoutMs(),
): AsyncGenerator<T> {
  const it = src[Symbol.asyncIterator]();
  const started = Date.now();
  let bytes = 0;
  try {
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const stalled = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(new TransientError(`${what}: no data from the registry for ${Math.round(ms / 1000)} s`)),
          ms,
        );
      });
      let r: IteratorResult<T>;
      try {
        r = await Promise.race([it.next(), stalled]);
      } finally {
        clearTimeout(timer);
      }
      if (r.done) return;
      bytes += r.value.length;
      // A drip of a few bytes now and then: under 1 KiB per idle period on average is a stall too.
      const elapsed = Date.now() - started;
      if (elapsed > ms && bytes < (elapsed / ms) * 1024)
        throw new TransientError(
          `${what}: the registry is sending ${bytes} bytes in ${Math.round(elapsed / 1000)} s`,
        );
      yield r.value;
    }
  } finally {
    // Cancels the underlying request when we give up early.
    await it.return?.().catch(() => undefined);
  }
}

/** Reads a whole (small) HTTP body with the idle bound and a size cap; never buffers more than `limit`. */
export async function readLimited(res: Response, limit: number, what: string): Promise<Buffer> {
  if (!res.body) return Buffer.alloc(0);
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of withIdleTimeout(res.body as unknown as AsyncIterable<Uint8Array>, what)) {
    total += chunk.length;
    if (total > limit) throw new MvmError("corrupt", `${what}: the registry sent more than ${limit} bytes`);
    parts.push(Buffer.from(chunk));
  }
  return Buffer.concat(parts);
}
