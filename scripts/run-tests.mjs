#!/usr/bin/env node
// Runs every compiled test file with node's test runner. MVM_TEST_FILTER=<substring> narrows the set.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
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
const r = spawnSync(process.execPath, ["--test", "--test-reporter=spec", ...files], { stdio: "inherit" });
process.exit(r.status ?? 1);
