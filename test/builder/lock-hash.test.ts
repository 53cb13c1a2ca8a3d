import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { flakeLockHash } from "../../src/builder/lock-hash.js";
import { scratch } from "../helpers/scratch.js";

const nixArgs = ["--extra-experimental-features", "nix-command flakes"];

test("flake.lock hash computed in-process equals `nix hash path`", async () => {
  const dir = scratch("mvm-lockhash-");
  for (const [name, text, exec] of [
    ["a.lock", '{"nodes":{"root":{}},"root":"root","version":7}\n', false],
    ["b.lock", "x".repeat(4097), true],
    ["c.lock", "", false],
  ] as const) {
    const file = join(dir, name);
    writeFileSync(file, text);
    if (exec) chmodSync(file, 0o755);
    const want = execFileSync("nix", [...nixArgs, "hash", "path", file], { encoding: "utf8" }).trim();
    assert.equal(await flakeLockHash(file), want, name);
  }
  assert.equal(await flakeLockHash(join(dir, "missing.lock")), undefined);
});
