#!/usr/bin/env node
// Runs every compiled test file with node's test runner and ends with one plain summary line
// ("N passed, N failed, N skipped"). MVM_TEST_FILTER=<substring> narrows the set of files.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

function find(dir) {
  let out = [];
  let entries = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out = out.concat(find(p));
    else if (e.endsWith(".test.js")) out.push(p);
  }
  return out;
}

const filter = process.env.MVM_TEST_FILTER ?? "";
const files = find("dist/test")
  .filter((f) => f.includes(filter))
  .sort();
if (files.length === 0) {
  console.error(`no test files found under dist/test${filter ? ` matching ${filter}` : ""}`);
  process.exit(1);
}
const tap = join(mkdtempSync(join(tmpdir(), "mvm-tests-")), "results.tap");
// Every temp dir the tests make (data dirs, images, registries) lives under one TMPDIR that is removed at
// the end, so repeated runs do not fill the disk.
const scratch = mkdtempSync(join(tmpdir(), "mvm-test-run-"));
const r = spawnSync(
  process.execPath,
  [
    "--test",
    "--test-reporter=spec",
    "--test-reporter-destination=stdout",
    "--test-reporter=tap",
    `--test-reporter-destination=${tap}`,
    ...files,
  ],
  { stdio: "inherit", env: { ...process.env, TMPDIR: scratch } },
);
if (!process.env.MVM_KEEP_TEST_TMP) rmSync(scratch, { recursive: true, force: true });
let summary = "";
try {
  const text = readFileSync(tap, "utf8");
  const count = (k) => Number((new RegExp(`^# ${k} (\\d+)$`, "m").exec(text) ?? [])[1] ?? 0);
  summary = `${count("pass")} passed, ${count("fail") + count("cancelled")} failed, ${count("skipped")} skipped`;
} catch {
  summary = "0 passed, 1 failed";
}
console.log(summary);
process.exit(r.status ?? 1);
