import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { CLI, runCli, tempDir } from "../helpers/cli.js";

// SIGKILL at random moments of `init --force` over an existing scaffold: every file must hold either
// its old or its new content, never a mix or nothing; the next run sweeps the killed run's temps.

const NO_LLM = { MVM_TEMPLATE_PROVIDER: "heuristic" };

function killAfter(args: string[], ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...NO_LLM, NO_COLOR: "1" },
      stdio: "ignore",
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), ms);
    child.on("error", reject);
    child.on("close", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

test("a killed init --force leaves each file old or new, and the next run cleans up", async (t) => {
  const parent = tempDir("mvm-crash-");
  const dir = join(parent, "c");
  const base = ["template", "init", "c", "--local", "--dir", parent];
  assert.equal((await runCli([...base, "--preset", "minimal"], { env: NO_LLM })).code, 0);
  const read = (f: string) => readFileSync(join(dir, f), "utf8");
  const old = { flake: read("flake.nix"), readme: read("README.md") };
  const fresh = join(tempDir("mvm-crash-"), "c");
  assert.equal(
    (
      await runCli(["template", "init", "c", "--local", "--dir", join(fresh, ".."), "--preset", "http"], {
        env: NO_LLM,
      })
    ).code,
    0,
  );
  const neu = {
    flake: readFileSync(join(fresh, "flake.nix"), "utf8"),
    readme: readFileSync(join(fresh, "README.md"), "utf8"),
  };
  assert.notEqual(old.flake, neu.flake);

  // Kill times spread over the second half of a full run, where the writes happen (startup dominates).
  const started = Date.now();
  assert.equal((await runCli([...base, "--preset", "minimal", "--force"], { env: NO_LLM })).code, 0);
  const full = Date.now() - started;
  const outcomes = { old: 0, new: 0 };
  for (let i = 0; i < 12; i++) {
    await killAfter([...base, "--preset", "http", "--force"], Math.round(full * (0.5 + (0.55 * i) / 11)));
    assert.ok([old.flake, neu.flake].includes(read("flake.nix")), `flake.nix intact after kill ${i}`);
    assert.ok([old.readme, neu.readme].includes(read("README.md")), `README.md intact after kill ${i}`);
    const wasNew = read("flake.nix") === neu.flake;
    outcomes[wasNew ? "new" : "old"]++;
    if (wasNew) {
      // Back to the old content, so later kills can catch the switch again.
      assert.equal((await runCli([...base, "--preset", "minimal", "--force"], { env: NO_LLM })).code, 0);
    }
  }
  t.diagnostic(`full run ${full} ms; after kills: ${outcomes.old} old, ${outcomes.new} new`);
  const r = await runCli([...base, "--preset", "http", "--force"], { env: NO_LLM });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(read("flake.nix"), neu.flake);
  assert.deepEqual(
    readdirSync(dir).sort(),
    [".gitignore", "README.md", "flake.nix", "mvm.toml"],
    "no temp files left",
  );
});
