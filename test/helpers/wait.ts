import assert from "node:assert/strict";

/** Polls `cond` (every 100 ms) until it holds; fails the test naming `what` after `limitMs`. */
export async function waitFor(
  what: string,
  cond: () => boolean | Promise<boolean>,
  limitMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`gave up waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
