import assert from "node:assert/strict";
import { test } from "node:test";
import { Timeline, timelineLines } from "../../src/host/timeline.js";

const busy = (ms: number) => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // spin: the phase must take measurable time
  }
};

test("a timeline's phases are contiguous, in order, and add up to its total", () => {
  const t = new Timeline("cli_load");
  busy(5);
  t.mark("first");
  busy(5);
  t.mark("second");
  const phases = t.phases;
  assert.deepEqual(
    phases.map((p) => p.phase),
    ["cli_load", "first", "second"],
  );
  // cli_load is the time since this process started: it includes loading the test runner.
  assert.ok((phases[0]?.ms ?? 0) > 0);
  assert.ok((phases[1]?.ms ?? 0) >= 4 && (phases[2]?.ms ?? 0) >= 4, JSON.stringify(phases));
  const sum = phases.reduce((s, p) => s + p.ms, 0);
  assert.ok(Math.abs(sum - t.totalMs) < 0.01);
  const lines = timelineLines(phases);
  assert.equal(lines.length, 4);
  assert.match(lines[1] ?? "", /^first\s+\d+\.\d ms\s+\d+ %$/);
  assert.match(lines[3] ?? "", /^total\s+\d+\.\d ms\s+100 %$/);
});
