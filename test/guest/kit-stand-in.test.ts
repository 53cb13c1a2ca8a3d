import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { nixLibraryDir } from "../../src/kit/index.js";
import { tempDir } from "../helpers/cli.js";

// A scaffolded offline flake names a stand-in for the guest kit (the release's source tree), which
// `mvmctl build` replaces with this machine's kit. Handed the stand-in itself, mkGuest says what it
// got and how to supply the kit, instead of failing on a missing file.

const run = promisify(execFile);

test("mkGuest handed something that is not a guest kit says how to supply one", async () => {
  const standIn = join(tempDir("mvm-kit-stand-in-"), "source");
  mkdirSync(standIn);
  writeFileSync(join(standIn, "README.md"), "not a kit\n");
  const lib = join(nixLibraryDir(), "flake.nix");
  const expr = `((import ${JSON.stringify(lib)}).outputs { self = { }; }).lib.x86_64-linux.mkGuest {
    name = "t"; kit = builtins.path { path = ${JSON.stringify(standIn)}; name = "source"; };
  }`;
  const r = await run("nix-instantiate", ["--option", "build-users-group", "", "-E", expr]).then(
    () => ({ ok: true, stderr: "" }),
    (e: { stderr?: string }) => ({ ok: false, stderr: e.stderr ?? "" }),
  );
  assert.equal(r.ok, false);
  assert.match(r.stderr, /mkGuest: `kit` is not an offline guest kit \(it has no kit\.json\)/);
  assert.match(r.stderr, /--override-input mvm-kit path:/);
});
