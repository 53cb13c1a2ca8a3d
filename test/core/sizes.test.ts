import assert from "node:assert/strict";
import { test } from "node:test";
import { formatBytes, parseHumanSizeMiB } from "../../src/core/sizes.js";

test("human sizes parse like the original's parse_human_size", () => {
  const cases: [string, number | string][] = [
    ["512", 512],
    ["512M", 512],
    ["512 MiB", 512],
    ["512mb", 512],
    ["4G", 4096],
    ["0.5G", 512],
    ["1.5 GiB", 1536],
    ["512K", 1],
    ["2048KB", 2],
    ["0", 0],
    ["", "Empty size string"],
    ["   ", "Empty size string"],
    ["-512M", "No numeric value found in '-512M'"],
    ["1.2.3", "Invalid number '1.2.3'"],
    ["12T", "Unknown size suffix 'T'"],
    ["5000000G", "Size too large (max: 4294967295 MiB)"],
  ];
  for (const [input, want] of cases) assert.equal(parseHumanSizeMiB(input), want, input);
});

test("format_bytes thresholds", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(1023), "1023 B");
  assert.equal(formatBytes(1024), "1.0 KiB");
  assert.equal(formatBytes(45.2 * 1024 * 1024), "45.2 MiB");
  assert.equal(formatBytes(3 * 1024 ** 3), "3.0 GiB");
});
