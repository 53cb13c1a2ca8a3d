import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";

// The repository's own flake (for `nix run`): nixpkgs cannot be fetched here, so scripts/eval-flake.sh
// parses flake.nix and package.nix and evaluates them with stand-ins for nixpkgs' functions.

const repo = resolve(import.meta.dirname, "..", "..", "..");

test("flake.nix offers packages.default (wrapped with its tools), apps.default and the guest library", async () => {
  const { stdout } = await promisify(execFile)("bash", [resolve(repo, "scripts", "eval-flake.sh")], {
    cwd: repo,
  });
  assert.deepEqual(JSON.parse(stdout), {
    app: "/nix/store/built-x86_64-linux/bin/mvmctl",
    mkGuest: true,
    package: "/nix/store/built-aarch64-linux",
    pname: "mvmctl",
    version: JSON.parse((await import("node:fs")).readFileSync(resolve(repo, "package.json"), "utf8"))
      .version,
    wraps: true,
  });
});
