import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { runCli, tempDir } from "../helpers/cli.js";

// `mvmctl template init --local` through the real CLI, with no LLM configured (heuristic planner).

const NO_LLM = {
  MVM_TEMPLATE_PROVIDER: undefined,
  OPENAI_API_KEY: undefined,
  MVM_TEMPLATE_LOCAL_BASE_URL: undefined,
  LOCALAI_BASE_URL: undefined,
};

async function init(args: string[], parent = tempDir("mvm-init-")) {
  const r = await runCli(["template", "init", ...args, "--local", "--dir", parent], {
    dataDir: tempDir(),
    env: NO_LLM,
  });
  return { r, parent };
}

describe("template init --local", () => {
  test("help mentions the scaffolding flags", async () => {
    const r = await runCli(["template", "init", "--help"]);
    assert.equal(r.code, 0);
    for (const f of ["--preset", "--prompt", "--offline", "--force", "--plan-only", "--planner", "--json"])
      assert.ok(r.stdout.includes(f), `help mentions ${f}`);
  });

  test("each preset writes its files, with the template name in the flake", async () => {
    for (const [preset, marker] of [
      ["minimal", "Add supervised services here"],
      ["http", "http.server"],
      ["postgres", "users.postgres"],
      ["worker", "services.worker"],
      ["python", "services.app"],
    ] as const) {
      const { r, parent } = await init([`t-${preset}`, "--preset", preset]);
      assert.equal(r.code, 0, r.stderr);
      const dir = join(parent, `t-${preset}`);
      const flake = readFileSync(join(dir, "flake.nix"), "utf8");
      assert.ok(flake.includes(marker), `${preset}: ${marker}`);
      assert.ok(flake.includes(`name = "t-${preset}";`));
      assert.equal(readFileSync(join(dir, ".gitignore"), "utf8"), "result*\nartifacts/\n");
      assert.match(
        readFileSync(join(dir, "README.md"), "utf8"),
        new RegExp(`^mvmctl build --snapshot .*\nmvmctl up t-${preset} -d$`, "m"),
      );
      const expected = [
        ".gitignore",
        "README.md",
        "flake.nix",
        "mvm.toml",
        ...(preset === "python" ? ["app"] : []),
      ];
      assert.deepEqual(readdirSync(dir).sort(), expected.sort());
      assert.match(r.stdout, /^written {5}flake\.nix$/m);
    }
  });

  test("no --preset means minimal; re-running keeps files, --force overwrites", async () => {
    const parent = tempDir("mvm-init-");
    const first = await init(["keep"], parent);
    assert.equal(first.r.code, 0, first.r.stderr);
    const flake = join(parent, "keep", "flake.nix");
    assert.match(readFileSync(flake, "utf8"), /minimal preset/);
    writeFileSync(flake, "# my edits\n");
    const again = await init(["keep", "--preset", "http"], parent);
    assert.equal(again.r.code, 0);
    assert.match(again.r.stdout, /^kept {8}flake\.nix$/m);
    assert.match(again.r.stderr, /nothing written/);
    assert.equal(readFileSync(flake, "utf8"), "# my edits\n");
    const forced = await init(["keep", "--preset", "http", "--force", "--json"], parent);
    assert.equal(forced.r.code, 0, forced.r.stderr);
    const out = JSON.parse(forced.r.stdout);
    assert.deepEqual(
      out.files.map((f: { path: string; status: string }) => `${f.status}:${f.path}`),
      ["overwritten:.gitignore", "overwritten:flake.nix", "overwritten:README.md", "overwritten:mvm.toml"],
    );
    assert.equal(out.dir, join(parent, "keep"));
    assert.equal(out.plan.primary_preset, "http");
    assert.match(readFileSync(flake, "utf8"), /http\.server/);
  });

  test("an unknown preset is a usage error and writes nothing", async () => {
    const { r, parent } = await init(["nope", "--preset", "nonexistent"]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /^error: Unknown preset "nonexistent"\. Valid presets: minimal, http, postgres, worker, python$/m,
    );
    assert.deepEqual(readdirSync(parent), []);
  });

  test("--offline refuses presets the kit cannot serve before doing anything", async () => {
    for (const preset of ["python", "postgres"]) {
      const { r, parent } = await init(["off", "--preset", preset, "--offline"]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`^error: --offline cannot serve ${preset}`, "m"));
      assert.doesNotMatch(r.stderr, /guest kit\.\.\./, "the kit is not prepared for a refused request");
      assert.deepEqual(readdirSync(parent), []);
    }
    const { r } = await init(["off", "--prompt", "a python api", "--offline"]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--offline cannot serve python/);
  });

  test("prompt mode (heuristic) writes the generated flake and metadata", async () => {
    const { r, parent } = await init([
      "prompted",
      "--prompt",
      "python service exposing an HTTP API with postgres",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const dir = join(parent, "prompted");
    const flake = readFileSync(join(dir, "flake.nix"), "utf8");
    assert.ok(flake.includes("services.app") && flake.includes("services.postgres"));
    const raw = readFileSync(join(dir, "mvm-template-prompt.json"), "utf8");
    assert.ok(!raw.endsWith("\n"), "pretty JSON without a trailing newline, like the original");
    const meta = JSON.parse(raw);
    assert.deepEqual(Object.keys(meta), [
      "schema_version",
      "template_name",
      "prompt",
      "generation_mode",
      "provider",
      "model",
      "summary",
      "notes",
      "primary_preset",
      "inferred_features",
      "http_port",
      "health_path",
      "worker_interval_secs",
      "python_entrypoint",
      "created_at",
    ]);
    assert.equal(meta.primary_preset, "python");
    assert.deepEqual(meta.inferred_features, ["python", "postgres"]);
    assert.equal(meta.generation_mode, "heuristic");
    assert.match(meta.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}\+00:00$/);
    assert.ok(existsSync(join(dir, "app", "main.py")));
  });

  test("--plan-only shows the plan and writes nothing; --planner needs --prompt", async () => {
    const { r, parent } = await init(["peek", "--prompt", "a cron job behind a web api", "--plan-only"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ {2}preset: {4}worker$/m);
    assert.match(r.stdout, /^ {2}features: {2}http, worker$/m);
    assert.deepEqual(readdirSync(parent), []);
    const long = await init(["peek", "--prompt", "x".repeat(8001)]);
    assert.equal(long.r.code, 2);
    assert.match(long.r.stderr, /--prompt is 8001 characters; at most 8000/);
    const p = await init(["peek", "--planner", "heuristic"]);
    assert.equal(p.r.code, 2);
    assert.match(p.r.stderr, /--planner needs --prompt/);
  });

  test("a file where the template directory should be is an error, and nothing changes", async () => {
    const parent = tempDir("mvm-init-");
    writeFileSync(join(parent, "taken"), "x");
    const { r } = await init(["taken", "--preset", "http"], parent);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: .*taken exists and is not a directory$/m);
    assert.equal(readFileSync(join(parent, "taken"), "utf8"), "x");
  });

  test("the library input is the release's published flake, whatever MVM_NIX_LIB says", async () => {
    const parent = tempDir("mvm-init-");
    const r = await runCli(["template", "init", "lib1", "--local", "--dir", parent, "--preset", "http"], {
      dataDir: tempDir(),
      env: { ...NO_LLM, MVM_NIX_LIB: "my lib" },
    });
    assert.equal(r.code, 0, r.stderr);
    const flake = readFileSync(join(parent, "lib1", "flake.nix"), "utf8");
    assert.match(flake, /^ {4}mvm\.url = "github:mvmctl\/mvmctl\/v\d+\.\d+\.\d+\?dir=nix";$/m);
    assert.doesNotMatch(flake, /path:|my lib/);
  });

  test("scaffold-only flags without --local are usage errors", async () => {
    for (const flag of ["--offline", "--plan-only"]) {
      const r = await runCli(["template", "init", "lay", flag], { dataDir: tempDir() });
      assert.equal(r.code, 2);
      assert.match(r.stderr, new RegExp(`${flag} requires --local`));
    }
  });
});
