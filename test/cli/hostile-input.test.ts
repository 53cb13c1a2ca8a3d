import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { runCli, tempDir } from "../helpers/cli.js";

// Each case must end in exit 2, one clear `error:` line naming the problem, no stack trace, and nothing
// written to the data dir — and no command embedded in the input may run.

const CANARY = join(tempDir("mvm-canary-"), "pwned");

interface Case {
  what: string;
  args: string[];
  message: RegExp;
}

const names: [string, RegExp][] = [
  ["../etc", /lowercase alphanumeric/],
  ["../../tmp/x", /lowercase alphanumeric/],
  ["a/b", /lowercase alphanumeric/],
  ["", /1-63 characters, got 0/],
  ["a".repeat(64), /1-63 characters, got 64/],
  ["-leading", /unknown option|must not start/],
  ["_leading", /must not start with a hyphen or underscore/],
  ["UPPER", /lowercase alphanumeric/],
  ["spa ce", /lowercase alphanumeric/],
  [`x;touch ${CANARY}`, /lowercase alphanumeric/],
  ["$(id)", /lowercase alphanumeric/],
  ["`id`", /lowercase alphanumeric/],
  ["naïve", /lowercase alphanumeric/],
  ["名前", /lowercase alphanumeric/],
  ["a\nb", /lowercase alphanumeric/],
  ["a\u0007b", /lowercase alphanumeric/],
  [".", /lowercase alphanumeric/],
  ["..", /lowercase alphanumeric/],
];

const flakes: [string, RegExp][] = [
  ["", /must not be empty/],
  [`.;touch ${CANARY}`, /unsafe character ";"/],
  [`$(touch ${CANARY})`, /unsafe character "\$"/],
  ["`id`", /unsafe character "`"/],
  ["a|b", /unsafe character "\|"/],
  ["a&b", /unsafe character "&"/],
  ["a>b", /unsafe character ">"/],
  ["a<b", /unsafe character "<"/],
  ["github:a/b!", /unsafe character "!"/],
  ["a\nb", /unsafe character "\\n"/],
  ["a\rb", /unsafe character "\\r"/],
  ["x\u0001y", /control character/],
  ["p".repeat(5000), /longer than 4096/],
];

const sizes: [string, string, RegExp][] = [
  ["--mem", "-512M", /No numeric value found/],
  ["--mem", "", /Empty size string/],
  ["--mem", "12T", /Unknown size suffix 'T'/],
  ["--mem", "1.2.3G", /Invalid number '1.2.3'/],
  ["--mem", "99999999999999G", /Size too large/],
  ["--mem", "64", /between 128 and 65536 MiB, got 64/],
  ["--mem", "65537", /between 128 and 65536/],
  ["--mem", "0", /between 128 and 65536/],
  ["--mem", "NaN", /No numeric value/],
  ["--mem", "Infinity", /No numeric value/],
  ["--mem", "1e9", /Unknown size suffix 'E9'/],
  ["--mem", "0x100", /Unknown size suffix 'X100'/],
  ["--mem", "５１２", /No numeric value/],
  ["--data-disk", "5T", /Unknown size suffix/],
  ["--data-disk", "4194305", /between 0 and 4194304/],
  ["--data-disk", "-1", /No numeric value/],
  ["--cpus", "0", /between 1 and 32/],
  ["--cpus", "33", /between 1 and 32/],
  ["--cpus", "-1", /whole number/],
  ["--cpus", "2.5", /whole number/],
  ["--cpus", "1e1", /whole number/],
  ["--cpus", "", /whole number/],
  ["--cpus", "99999999999999999999", /whole number/],
];

const idents: [string, string, RegExp][] = [
  ["--profile", "../x", /must match/],
  ["--profile", "", /must match/],
  ["--profile", "A", /must match/],
  ["--profile", "p;id", /must match/],
  ["--role", "r$(id)", /must match/],
  ["--role", "-r", /argument missing|must match/],
  ["--role", "x".repeat(64), /must match/],
];

const cases: Case[] = [
  ...names.map(([n, m]) => ({
    what: `name ${JSON.stringify(n)}`,
    args: ["template", "create", n],
    message: m,
  })),
  ...flakes.map(([f, m]) => ({
    what: `flake ${JSON.stringify(f.slice(0, 30))}`,
    args: ["template", "create", "ok", "--flake", f],
    message: m,
  })),
  ...sizes.map(([flag, v, m]) => ({
    what: `${flag} ${JSON.stringify(v)}`,
    args: ["template", "create", "ok", `${flag}=${v}`],
    message: m,
  })),
  ...idents.map(([flag, v, m]) => ({
    what: `${flag} ${JSON.stringify(v)}`,
    args: ["template", "create", "ok", `${flag}=${v}`],
    message: m,
  })),
  {
    what: "create-multi traversal role",
    args: ["template", "create-multi", "ok", "--roles", "../x"],
    message: /must match/,
  },
  {
    what: "create-multi empty",
    args: ["template", "create-multi", "ok", "--roles", ""],
    message: /empty role/,
  },
  {
    what: "create-multi dup",
    args: ["template", "create-multi", "ok", "--roles", "a,a"],
    message: /listed twice/,
  },
  { what: "edit bad mem", args: ["template", "edit", "ok", "--mem", "1Q"], message: /Unknown size suffix/ },
  { what: "info traversal", args: ["template", "info", "../../etc"], message: /lowercase alphanumeric/ },
  {
    what: "delete traversal",
    args: ["template", "delete", "../x", "--force"],
    message: /lowercase alphanumeric/,
  },
  {
    what: "unknown flag",
    args: ["template", "create", "ok", "--frobnicate"],
    message: /unknown option '--frobnicate'/,
  },
];

test(`hostile CLI input: ${cases.length} cases each exit 2 with a clear message and write nothing`, async () => {
  const data = tempDir();
  const failures: string[] = [];
  // Run a few at a time: each case is a separate process.
  for (let i = 0; i < cases.length; i += 6) {
    await Promise.all(
      cases.slice(i, i + 6).map(async (c) => {
        const r = await runCli(c.args, { dataDir: data });
        const firstLine = r.stderr.split("\n")[0] ?? "";
        if (r.code !== 2) failures.push(`${c.what}: exit ${r.code}, stderr ${JSON.stringify(r.stderr)}`);
        else if (!/^error: /.test(firstLine))
          failures.push(`${c.what}: first line ${JSON.stringify(firstLine)}`);
        else if (!c.message.test(r.stderr))
          failures.push(`${c.what}: ${JSON.stringify(firstLine)} !~ ${c.message}`);
        else if (/\n\s+at /.test(r.stderr)) failures.push(`${c.what}: stack trace printed`);
      }),
    );
  }
  assert.deepEqual(failures, []);
  const written = existsSync(data) ? readdirSync(data) : [];
  assert.deepEqual(
    written.filter((e) => e !== "locks"),
    [],
    "nothing may be created in the data dir",
  );
  assert.equal(existsSync(join(data, "templates")), false);
  assert.equal(existsSync(CANARY), false, "a command embedded in the input ran");
});

test("--debug prints a stack trace for unexpected errors only when asked", async () => {
  const data = tempDir();
  const r = await runCli(["template", "info", "nope", "--debug"], { dataDir: data });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^error: template nope does not exist/);
  assert.match(r.stderr, /\n\s+at /);
});
