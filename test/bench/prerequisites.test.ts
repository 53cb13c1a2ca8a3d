import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { statSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, test } from "node:test";
import { checkPrerequisites, describeReadiness } from "../../bench/prerequisites.js";
import { tempDir } from "../helpers/cli.js";

// `npm run bench` on a machine without the test services: what is missing is found before anything
// runs, and said with what to install, instead of a spawn error and a stack trace half-way through.

const RUN = resolve(import.meta.dirname, "..", "..", "bench", "run.js");
const REPORT = resolve(import.meta.dirname, "..", "..", "..", "bench", "report.md");

/** A PATH holding only the named programs (symlinks to the real ones). */
function pathWith(programs: Record<string, string>): string {
  const dir = tempDir("mvm-bench-path-");
  for (const [name, target] of Object.entries(programs)) symlinkSync(target, join(dir, name));
  return dir;
}

function fakeProgram(dir: string, name: string): string {
  const p = join(dir, name);
  writeFileSync(p, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  return p;
}

describe("bench prerequisites", () => {
  test("--check without aws, nix or QEMU: what runs, what is skipped and what to install; nothing written", () => {
    const before = statSync(REPORT).mtimeMs;
    const PATH = pathWith({ node: process.execPath, cp: "/usr/bin/cp" });
    const r = spawnSync(process.execPath, [RUN, "--check"], {
      env: { PATH, MVM_BENCH_ONLY: "" },
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, "");
    const lines = r.stdout.trim().split("\n");
    assert.equal(lines[0], "== prerequisites");
    assert.equal(lines[1], "ok    cli-startup");
    assert.equal(lines[2], "ok    template-list");
    assert.match(
      lines[3] ?? "",
      /^SKIP {2}build-noop: needs nix \(apt-get install nix-bin, or set MVM_NIX\), mke2fs /,
    );
    assert.equal(
      lines[4],
      "ok    registry, without the aws s3 cp baseline and the two S3 push throughput figures judged against it: aws not found (apt-get install awscli, or bash scripts/install-deps.sh --with-test-services)",
    );
    assert.match(
      lines[5] ?? "",
      /^SKIP {2}restore: needs nix .*qemu \(apt-get install qemu-system-x86, or set MVM_QEMU_BIN\)/,
    );
    assert.equal(lines[6], "ok    exec");
    assert.match(lines[7] ?? "", /^SKIP {2}daemon: needs nix .*qemu \(apt-get install qemu-system-x86/);
    assert.match(lines[8] ?? "", /^SKIP {2}e2b: needs nix .*qemu \(apt-get install qemu-system-x86/);
    assert.equal(lines[9], "ok    verify");
    assert.equal(lines.length, 10);
    assert.equal(statSync(REPORT).mtimeMs, before, "the report is not rewritten by --check");
  });

  test("an aws on PATH brings the baseline back; the tool variables count like PATH", () => {
    const dir = tempDir("mvm-bench-bin-");
    fakeProgram(dir, "aws");
    fakeProgram(dir, "cp");
    fakeProgram(dir, "mke2fs");
    const nix = fakeProgram(tempDir(), "my-nix");
    const [registry, buildNoop] = checkPrerequisites(["registry", "build-noop"], { PATH: dir, MVM_NIX: nix });
    assert.deepEqual(describeReadiness(registry!), ["ok    registry"]);
    assert.deepEqual(describeReadiness(buildNoop!), ["ok    build-noop"]);
    const [withoutNix] = checkPrerequisites(["build-noop"], { PATH: dir, MVM_NIX: "/nonexistent/nix" });
    assert.deepEqual(
      withoutNix!.missing.map((n) => n.name),
      ["nix"],
    );
  });
});
