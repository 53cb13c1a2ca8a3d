import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { ensureDataDir } from "../../src/host/data-dir.js";
import { runCli, tempDir } from "../helpers/cli.js";

// A data dir that cannot work must stop a command at once with one line. A recursive mkdir under /proc
// never returns on Node 20, so these runs are bounded and must end by themselves.
const BOUND = { timeoutMs: 60_000 };

function oneErrorLine(stderr: string): string {
  const errors = stderr.split("\n").filter((l) => l.startsWith("error:"));
  assert.equal(errors.length, 1, stderr);
  assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
  return errors[0] as string;
}

describe("an unusable MVM_DATA_DIR", () => {
  test("under /proc: create, list and up fail at once with one line naming the variable", async () => {
    for (const args of [
      ["template", "create", "web", "--flake", "/tmp"],
      ["template", "list"],
      ["up", "--template", "web"],
      ["ls"],
    ]) {
      const r = await runCli(args, { dataDir: "/proc/mvm-data", ...BOUND });
      assert.equal(r.signal, null, `${args.join(" ")} did not finish`);
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        oneErrorLine(r.stderr),
        /^error: the data dir \/proc\/mvm-data \(from MVM_DATA_DIR\) is not usable: cannot create \/proc\/mvm-data: .*\(ENOENT\)$/,
      );
      assert.equal(r.stdout, "");
    }
    const deep = await runCli(["template", "list"], { dataDir: "/proc/mvm-data/a/b", ...BOUND });
    assert.equal(deep.code, 1);
    assert.match(oneErrorLine(deep.stderr), /cannot create \/proc\/mvm-data: /);
  });

  test("a regular file, a path through a file, and a directory nothing can be created in", async () => {
    const dir = tempDir();
    const file = join(dir, "not-a-dir");
    writeFileSync(file, "keep me\n");
    const cases: [string, RegExp][] = [
      [file, /is not usable: it is not a directory$/],
      [
        join(file, "data"),
        /is not usable: cannot inspect .*not-a-dir\/data: a path component is a file \(ENOTDIR\)$/,
      ],
      ["/proc/self", /is not usable: cannot create files in it: /],
    ];
    for (const [dataDir, why] of cases) {
      const r = await runCli(["template", "create", "web", "--flake", "/tmp"], { dataDir, ...BOUND });
      assert.equal(r.code, 1, r.stderr);
      assert.match(oneErrorLine(r.stderr), why);
    }
    assert.equal(readFileSync(file, "utf8"), "keep me\n");
    assert.deepEqual(readdirSync(dir), ["not-a-dir"]);
  });

  test("doctor reports the data dir as FAIL, skips the checks that need it, and finishes", async () => {
    const r = await runCli(["doctor", "--json"], { dataDir: "/proc/mvm-data", ...BOUND });
    assert.equal(r.signal, null, "doctor did not finish");
    assert.equal(r.code, 1, r.stderr);
    const out = JSON.parse(r.stdout) as {
      ok: boolean;
      checks: { name: string; status: string; detail: string }[];
    };
    assert.equal(out.ok, false);
    const row = (name: string) => out.checks.find((c) => c.name === name);
    assert.equal(row("data dir")?.status, "fail");
    assert.match(
      row("data dir")?.detail ?? "",
      /^the data dir \/proc\/mvm-data \(from MVM_DATA_DIR\) is not usable/,
    );
    for (const name of ["guest kit", "registry", "acceleration"])
      assert.deepEqual(
        [row(name)?.status, row(name)?.detail],
        ["warn", "not checked: the data dir is not usable"],
        name,
      );
  });

  test("a usable data dir is created level by level, and a second call finds it as it is", async () => {
    const root = join(tempDir(), "a", "b", "data");
    await ensureDataDir(root, "MVM_DATA_DIR");
    assert.ok(statSync(root).isDirectory());
    assert.deepEqual(readdirSync(root), [], "the write probe leaves nothing behind");
    await ensureDataDir(root, "MVM_DATA_DIR");
    const r = await runCli(["template", "create", "web", "--flake", "/tmp"], {
      dataDir: join(root, "x", "y"),
    });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(root, "x", "y", "templates", "web", "template.json")));
  });

  test("without MVM_DATA_DIR the message names HOME", async () => {
    await assert.rejects(ensureDataDir("/proc/mvm-home/.mvm", "HOME"), {
      message:
        /^the data dir \/proc\/mvm-home\/\.mvm \(from HOME\) is not usable: cannot create \/proc\/mvm-home: /,
    });
    const r = await runCli(["template", "list"], {
      env: { MVM_DATA_DIR: undefined, HOME: "/proc/mvm-home" },
      ...BOUND,
    });
    assert.equal(r.code, 1, r.stderr);
    assert.match(oneErrorLine(r.stderr), /\(from HOME\) is not usable/);
    assert.match(r.stderr, /^hint: Set MVM_DATA_DIR to a directory you can write to\.$/m);
  });
});
