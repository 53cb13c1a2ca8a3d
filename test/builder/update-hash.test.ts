import assert from "node:assert/strict";
import { test } from "node:test";
import { hashLiterals, hashMismatches } from "../../src/builder/update-hash.js";

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
