import assert from "node:assert/strict";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import {
  ConsoleLogWriter,
  consoleLogMaxBytes,
  DEFAULT_CONSOLE_LOG_MAX_BYTES,
  followConsoleLog,
  readConsoleLog,
} from "../../../src/hypervisor/keeper/console-log.js";
import { tempDir } from "../../helpers/cli.js";

// The bounded console log on real files: the writer keeps console.log and console.log.1 within the
// bound and holds the most recent output; readers see it oldest first, and a follower that keeps up
// reads every byte exactly once across rotations.

const line = (i: number) => Buffer.from(`line ${String(i).padStart(6, "0")} ${"x".repeat(i % 97)}\n`);
const size = (p: string) => (existsSync(p) ? statSync(p).size : 0);

test("the writer keeps both files within the bound and the most recent output", async () => {
  const path = join(tempDir("mvm-console-"), "console.log");
  const bound = 8192;
  const w = new ConsoleLogWriter(path, bound);
  const all: Buffer[] = [];
  for (let i = 0; i < 2000; i++) {
    const b = i % 250 === 0 ? Buffer.alloc(20_000, 0x41) : line(i); // now and then one huge chunk
    w.write(b);
    all.push(b);
    assert.ok(size(path) + size(`${path}.1`) <= bound, `after write ${i}`);
  }
  w.close();
  const written = Buffer.concat(all);
  const parts: Buffer[] = [];
  await readConsoleLog(path, (b) => parts.push(b));
  const kept = Buffer.concat(parts);
  assert.ok(kept.length >= bound / 2, `kept ${kept.length} bytes`);
  assert.deepEqual(kept, written.subarray(written.length - kept.length), "the tail of what was written");
  assert.equal(statSync(path).mode & 0o777, 0o600);
});

test("a follower reads every byte once, in order, across rotations", async () => {
  const path = join(tempDir("mvm-console-"), "console.log");
  const bound = 4096;
  const w = new ConsoleLogWriter(path, bound);
  const got: Buffer[] = [];
  let gotBytes = 0;
  let stop = false;
  const following = followConsoleLog(
    path,
    (b) => {
      got.push(b);
      gotBytes += b.length;
    },
    { pollMs: 5, stopped: () => stop },
  );
  const all: Buffer[] = [];
  let written = 0;
  let i = 0;
  // Batches of a quarter of the bound: at most one rotation happens while the follower catches up.
  for (let batch = 0; batch < 40; batch++) {
    let n = 0;
    while (n < bound / 4) {
      const b = line(i++);
      w.write(b);
      all.push(b);
      n += b.length;
    }
    written += n;
    while (gotBytes < written) await new Promise((r) => setTimeout(r, 2));
  }
  stop = true;
  await following;
  w.close();
  assert.ok(existsSync(`${path}.1`), "rotated");
  assert.deepEqual(Buffer.concat(got), Buffer.concat(all));
});

test("MVM_CONSOLE_LOG_MAX_BYTES takes bytes or K/M/G and refuses nonsense", () => {
  assert.equal(consoleLogMaxBytes({}), DEFAULT_CONSOLE_LOG_MAX_BYTES);
  assert.equal(consoleLogMaxBytes({ MVM_CONSOLE_LOG_MAX_BYTES: "65536" }), 65536);
  assert.equal(consoleLogMaxBytes({ MVM_CONSOLE_LOG_MAX_BYTES: "16M" }), 16 * 1024 * 1024);
  for (const bad of ["100", "lots", "1.5M", "-4096", "2048G"])
    assert.throws(
      () => consoleLogMaxBytes({ MVM_CONSOLE_LOG_MAX_BYTES: bad }),
      /^MvmError: invalid MVM_CONSOLE_LOG_MAX_BYTES .*expected a size from 4K to 1024G/,
      bad,
    );
});
