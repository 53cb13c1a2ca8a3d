import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { promisify } from "node:util";
import { nixLibraryDir } from "../../src/kit/index.js";
import { writeScaffold } from "../../src/scaffold/files.js";
import { type Preset, PRESETS, presetPlan } from "../../src/scaffold/model.js";
import { renderScaffold } from "../../src/scaffold/scaffold.js";
import { tempDir } from "../helpers/cli.js";
import { ensureTestKit, nixBuildOffline, type TestKit } from "../helpers/fixtures.js";

// Our flakes against the real mkGuest library. Offline presets are built with real nix. Default
// (nixpkgs) presets cannot be built here (no network for nixpkgs), so their mkGuest arguments are
// handed to the real library in kit mode and instantiated: the library's own checks (names, users,
// uids, host name, env names) run on exactly what the flake would pass it.

const run = promisify(execFile);
let kit: TestKit;

before(async () => {
  kit = await ensureTestKit();
});

function scaffoldDir(name: string, preset: Preset, offline: boolean): Promise<string> {
  const dir = join(tempDir("mvm-lib-"), name);
  const files = renderScaffold(
    name,
    {
      plan: presetPlan(preset),
      origin: { mode: "preset", provider: null, model: null, summary: "", notes: [] },
    },
    undefined,
    offline ? "offline" : "nixpkgs",
    offline ? { version: "0.1.0", system: "x86_64-linux" } : { version: "0.1.0" },
  );
  return writeScaffold(dir, files, { force: false }).then(() => dir);
}

describe("generated flakes and the real mkGuest library", () => {
  for (const preset of ["minimal", "http", "worker"] as const)
    test(`offline ${preset} preset builds with nix, offline`, async () => {
      const dir = await scaffoldDir(`off-${preset}`, preset, true);
      const r = await nixBuildOffline(dir, kit.dir);
      assert.equal(r.code, 0, r.stderr.slice(-3000));
      assert.match(r.outPath ?? "", new RegExp(`-mvm-off-${preset}$`));
    });

  for (const preset of PRESETS)
    test(`nixpkgs ${preset} preset: the library accepts its arguments`, async () => {
      const dir = await scaffoldDir(`np_${preset}-`, preset, false);
      const expr = `
        let
          lib = (import ${JSON.stringify(join(nixLibraryDir(), "flake.nix"))}).outputs { self = lib; };
          kit = builtins.path { path = ${JSON.stringify(kit.dir)}; name = "mvm-kit"; };
          fake = n: { outPath = "/nix/store/00000000000000000000000000000000-" + n; };
          pkgs = {
            curl = fake "curl"; bash = fake "bash"; coreutils = fake "coreutils"; postgresql = fake "postgresql";
            python3 = fake "python3" // { withPackages = f: fake "python3-env"; };
          };
          viaKit = args: lib.lib.x86_64-linux.mkGuest ((removeAttrs args [ "pkgs" ]) // { inherit kit; packages = [ ]; });
          flake = import ${JSON.stringify(join(dir, "flake.nix"))};
          out = flake.outputs {
            self = { };
            mvm = { lib = { x86_64-linux.mkGuest = viaKit; aarch64-linux.mkGuest = viaKit; }; };
            nixpkgs = {
              lib.genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
              legacyPackages = { x86_64-linux = pkgs; aarch64-linux = pkgs; };
            };
          };
        in out.packages.x86_64-linux.default`;
      const args = ["--option", "build-users-group", "", "-E", expr];
      const { stdout } = await run("nix-instantiate", args, { maxBuffer: 8 << 20 }).catch((e) => {
        throw new Error(`the library refused the ${preset} preset: ${(e as { stderr?: string }).stderr}`);
      });
      assert.match(stdout.trim(), /^\/nix\/store\/\w{32}-mvm-np_\w+-\.drv$/);
    });
});
