import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { findOnPath } from "../../src/host/tools.js";
import { CLI, runCli, tempDir } from "../helpers/cli.js";

// The generated scripts, run by the real shells against a data dir holding templates and VMs. Shell
// text here is constant: the words to complete and the paths travel as arguments and variables.

function dataDirWithNames(): string {
  const data = tempDir();
  for (const t of ["web", "api", "worker-2"]) mkdirSync(join(data, "templates", t), { recursive: true });
  // Not names a user can type: a staging dir, an invalid name, a file.
  mkdirSync(join(data, "templates", ".web.tmp-1-abcd1234"));
  mkdirSync(join(data, "templates", "Bad Name"));
  writeFileSync(join(data, "templates", "notes.txt"), "x");
  for (const v of ["web-1a2b", "api-9f00"]) mkdirSync(join(data, "vms", v), { recursive: true });
  return data;
}

/** A directory holding an `mvmctl` that runs the built CLI, for shells that look it up on PATH. */
function binDir(): string {
  const dir = tempDir("mvm-bin-");
  writeFileSync(join(dir, "mvmctl"), '#!/bin/sh\nexec "$MVM_TEST_NODE" "$MVM_TEST_CLI" "$@"\n', {
    mode: 0o755,
  });
  return dir;
}

const SHELL_ENV = { MVM_TEST_NODE: process.execPath, MVM_TEST_CLI: CLI, NO_COLOR: "1" };

/** Runs the bash script's completion function for `line` (a trailing space means a new, empty word). */
function bashComplete(data: string, line: string): string[] {
  const words = line.split(" ");
  const driver = [
    'eval "$(mvmctl completion bash)"',
    'COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))',
    "_mvmctl",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a bash array expansion, not a placeholder
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join("\n");
  const r = spawnSync("bash", ["-c", driver, "bash", ...words], {
    env: { ...process.env, ...SHELL_ENV, PATH: `${binDir()}:${process.env.PATH}`, MVM_DATA_DIR: data },
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, "", "completion prints nothing on stderr");
  return r.stdout.split("\n").filter((l) => l !== "");
}

describe("shell completion knows names", () => {
  test("bash: template names, VM names, presets, schemes, hypervisors and shells where they belong", () => {
    const data = dataDirWithNames();
    const cases: [string, string[]][] = [
      ["mvmctl up --template ", ["api", "web", "worker-2"]],
      ["mvmctl run --template w", ["web", "worker-2"]],
      ["mvmctl up -d --name x --template ", ["api", "web", "worker-2"]],
      ["mvmctl template info ", ["api", "web", "worker-2"]],
      ["mvmctl template build a", ["api"]],
      ["mvmctl template rm ", ["api", "web", "worker-2"]],
      ["mvmctl template push web --registry ", ["file://", "s3://", "oci://"]],
      ["mvmctl template init site --local --preset ", ["minimal", "http", "postgres", "worker", "python"]],
      ["mvmctl up --template web --hypervisor ", ["auto", "qemu", "firecracker"]],
      ["mvmctl down ", ["api-9f00", "web-1a2b"]],
      ["mvmctl logs -f ", ["api-9f00", "web-1a2b"]],
      ["mvmctl completion ", ["bash", "zsh", "fish"]],
      ["mvmctl completions z", ["zsh"]],
    ];
    for (const [line, expected] of cases) assert.deepEqual(bashComplete(data, line), expected, line);
  });

  test("bash: flags and subcommands still complete, new names and free values get nothing", () => {
    const data = dataDirWithNames();
    assert.deepEqual(bashComplete(data, "mvmctl template info web "), ["--json", "--help"]);
    assert.ok(bashComplete(data, "mvmctl up --template web -").includes("--hypervisor"));
    assert.deepEqual(bashComplete(data, "mvmctl templ"), ["template"]);
    assert.ok(bashComplete(data, "mvmctl template ").includes("create-multi"));
    assert.deepEqual(bashComplete(data, "mvmctl up --name "), [], "a new VM name is typed, not completed");
    const create = bashComplete(data, "mvmctl template create ");
    assert.ok(
      create.includes("--flake") && !create.includes("web"),
      "a new template name is typed, not completed",
    );
    assert.deepEqual(bashComplete(data, "mvmctl down web-1a2b "), [
      "--all",
      "--json",
      "--no-daemon",
      "--help",
    ]);
  });

  test("bash: no data dir, or an unusable one, offers no names and prints nothing", () => {
    assert.deepEqual(bashComplete(join(tempDir(), "missing"), "mvmctl up --template "), []);
    assert.deepEqual(bashComplete("/proc/mvm-no-data", "mvmctl template info "), []);
  });

  test("__complete lists valid names only, one per line, and is silent on anything else", async () => {
    const data = dataDirWithNames();
    const t = await runCli(["__complete", "templates"], { dataDir: data });
    assert.deepEqual([t.code, t.stdout, t.stderr], [0, "api\nweb\nworker-2\n", ""]);
    const v = await runCli(["__complete", "vms"], { dataDir: data });
    assert.deepEqual([v.code, v.stdout], [0, "api-9f00\nweb-1a2b\n"]);
    const bad = await runCli(["__complete", "secrets"], { dataDir: data });
    assert.deepEqual([bad.code, bad.stdout, bad.stderr], [0, "", ""]);
    const proc = await runCli(["__complete", "templates"], { dataDir: "/proc/mvm-no-data" });
    assert.deepEqual([proc.code, proc.stdout, proc.stderr], [0, "", ""]);
    const help = await runCli(["--help"]);
    assert.doesNotMatch(help.stdout, /__complete/, "the helper is not advertised");
  });

  test("zsh: the script parses, and its function completes names under bashcompinit's rules", (t) => {
    if (!findOnPath("zsh")) {
      t.skip("zsh is not installed (apt-get install zsh)");
      return;
    }
    const data = dataDirWithNames();
    const script = spawnSync(process.execPath, [CLI, "completion", "zsh"], { encoding: "utf8" }).stdout;
    const file = join(tempDir(), "_mvmctl");
    writeFileSync(file, script);
    const syntax = spawnSync("zsh", ["-n", file], { encoding: "utf8" });
    assert.equal(syntax.status, 0, syntax.stderr);
    // bashcompinit calls the function with ksharrays set and COMP_WORDS/COMP_CWORD filled in.
    const driver = [
      'source "$1"',
      "setopt ksharrays",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a zsh array expansion, not a placeholder
      'COMP_WORDS=(mvmctl up --template ""); COMP_CWORD=3; _mvmctl; print -l -- "${COMPREPLY[@]}"',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a zsh array expansion, not a placeholder
      'COMP_WORDS=(mvmctl down ""); COMP_CWORD=2; _mvmctl; print -l -- "${COMPREPLY[@]}"',
    ].join("\n");
    const r = spawnSync("zsh", ["-f", "-c", driver, "zsh", file], {
      env: { ...process.env, ...SHELL_ENV, PATH: `${binDir()}:${process.env.PATH}`, MVM_DATA_DIR: data },
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n"), ["api", "web", "worker-2", "api-9f00", "web-1a2b"]);
  });

  test("fish: the script parses, and fish's own completer offers the names", (t) => {
    if (!findOnPath("fish")) {
      t.skip("fish is not installed (apt-get install fish)");
      return;
    }
    const data = dataDirWithNames();
    const script = spawnSync(process.execPath, [CLI, "completion", "fish"], { encoding: "utf8" }).stdout;
    const file = join(tempDir(), "mvmctl.fish");
    writeFileSync(file, script);
    const syntax = spawnSync("fish", ["-n", file], { encoding: "utf8" });
    assert.equal(syntax.status, 0, syntax.stderr);
    const complete = (line: string): string[] => {
      const r = spawnSync(
        "fish",
        ["--no-config", "-c", "source $argv[1]; complete -C $argv[2]", file, line],
        {
          env: { ...process.env, ...SHELL_ENV, PATH: `${binDir()}:${process.env.PATH}`, MVM_DATA_DIR: data },
          encoding: "utf8",
          timeout: 60_000,
        },
      );
      assert.equal(r.status, 0, r.stderr);
      return r.stdout
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => l.split("\t")[0] as string)
        .sort();
    };
    assert.deepEqual(complete("mvmctl up --template "), ["api", "web", "worker-2"]);
    assert.deepEqual(complete("mvmctl template info "), ["api", "web", "worker-2"]);
    assert.deepEqual(complete("mvmctl logs "), ["api-9f00", "web-1a2b"]);
    assert.deepEqual(complete("mvmctl template push web --registry "), ["file://", "oci://", "s3://"]);
    assert.deepEqual(complete("mvmctl template init x --preset "), [
      "http",
      "minimal",
      "postgres",
      "python",
      "worker",
    ]);
    assert.ok(complete("mvmctl kit ").includes("build"));
  });
});
