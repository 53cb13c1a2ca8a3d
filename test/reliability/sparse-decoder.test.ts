import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { MvmError } from "../../src/core/errors.js";
import { decodeSparse } from "../../src/registry/sparse.js";
import { tempDir } from "../helpers/cli.js";

// A sparse1 stream is 28 bytes for any number of zeros. Decoding hashes every one of them, so the work
// must never hold the event loop: timers (the registry idle timeout, progress) keep firing, and an abort
// stops it at once. 64 GiB of zeros (the largest memory the CLI accepts) take tens of seconds to hash.

const SIZE = 64 * 1024 ** 3;

function zeroStream(size: number): Buffer {
  const b = Buffer.alloc(28);
  b.write("MVMSPAR1", 0, "latin1");
  b.writeBigUInt64BE(BigInt(size), 8);
  b.writeBigUInt64BE(BigInt(size), 16);
  return b;
}

test("a 28-byte stream announcing 64 GiB of zeros keeps the event loop turning and stops when aborted", {
  timeout: 300_000,
}, async () => {
  const fh = await fs.open(join(tempDir("mvm-sparse-loop-"), "out"), "w+");
  const ctl = new AbortController();
  let ticks = 0;
  const timer = setInterval(() => {
    ticks++;
    if (ticks === 5) ctl.abort(new MvmError("timeout", "stopped by the test's timer"));
  }, 10);
  try {
    const source = (async function* () {
      yield zeroStream(SIZE);
    })();
    await assert.rejects(
      decodeSparse(source, fh, SIZE, { signal: ctl.signal }),
      /stopped by the test's timer/,
    );
  } finally {
    clearInterval(timer);
    await fh.close();
  }
  assert.ok(ticks >= 5, `${ticks} timer ticks`);
});
