import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { flakeLockHash } from "../../src/builder/lock-hash.js";
import { NixLogParser } from "../../src/builder/nix/internal-json.js";
import { hashLiterals, hashMismatches } from "../../src/builder/update-hash.js";
import { scratch } from "../helpers/data-dir.js";

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

test("internal-json: build start, log lines with the derivation's name, errors without colour", () => {
  const p = new NixLogParser();
  const start = p.parseLine(
    '@nix {"action":"start","fields":["/nix/store/fbisp2hw1k1hyq81lbkyvkdpk47n222a-t5.drv","",1,1],"id":7,"level":3,"text":"building \'x\'","type":105}',
  );
  assert.deepEqual(start, {
    kind: "build-start",
    id: 7,
    drv: "/nix/store/fbisp2hw1k1hyq81lbkyvkdpk47n222a-t5.drv",
    name: "t5",
    text: "building 'x'",
  });
  assert.deepEqual(p.parseLine('@nix {"action":"result","fields":["oops"],"id":7,"type":101}'), {
    kind: "log",
    id: 7,
    name: "t5",
    line: "oops",
  });
  assert.deepEqual(
    p.parseLine(
      '@nix {"action":"msg","level":0,"msg":"\\u001b[31;1merror:\\u001b[0m bad \\u001b[35;1mthing\\u001b[0m"}',
    ),
    { kind: "message", level: 0, text: "error: bad thing" },
  );
  assert.deepEqual(p.parseLine("@nix {not json"), { kind: "raw", text: "@nix {not json" });
  assert.equal(p.parseLine(""), undefined);
});

test("update-hash: literals found with their lines; mismatches parsed", () => {
  const text = 'a = 1;\n  outputHash = "sha256-x";\n  src = f { hash = ""; };\n  name = "hash";\n';
  assert.deepEqual(
    hashLiterals(text).map((l) => [l.attr, l.line, l.value]),
    [
      ["outputHash", 2, "sha256-x"],
      ["hash", 3, ""],
    ],
  );
  assert.deepEqual(
    hashMismatches([
      "hash mismatch in fixed-output derivation '/nix/store/a-p.drv':\n         specified: sha256-AAAA=\n            got:    sha256-BBBB=",
      "something else",
    ]),
    [{ drv: "/nix/store/a-p.drv", specified: "sha256-AAAA=", got: "sha256-BBBB=" }],
  );
});
