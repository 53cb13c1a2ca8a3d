import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { runCli, tempDir } from "../helpers/cli.js";

// Doctor checks the binaries the commands will run: the ones MVM_NIX, MVM_QEMU_BIN and MVM_QEMU_IMG
// choose, else the ones on PATH, and names the variable when it chose a binary that does not work.

interface Row {
  name: string;
  status: string;
  detail: string;
  fix?: string;
}

async function doctor(env: Record<string, string>): Promise<Map<string, Row>> {
  const r = await runCli(["doctor", "--json"], { dataDir: tempDir(), env });
  assert.ok(r.code === 0 || r.code === 1, r.stderr);
  const out = JSON.parse(r.stdout) as { checks: Row[] };
  return new Map(out.checks.map((c) => [c.name, c]));
}

function script(dir: string, name: string, body: string): string {
  mkdirSync(dir, { recursive: true });
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return p;
}

describe("doctor and the tool variables", () => {
  test("a nonexistent MVM_NIX / MVM_QEMU_BIN / MVM_QEMU_IMG / MVM_FIRECRACKER_BIN fails, naming the variable", async () => {
    const rows = await doctor({
      MVM_NIX: "/nonexistent/nix",
      MVM_QEMU_BIN: "/nonexistent/qemu-system-x86_64",
      MVM_QEMU_IMG: "/nonexistent/qemu-img",
      MVM_FIRECRACKER_BIN: "no-such-firecracker",
    });
    assert.deepEqual(rows.get("nix"), {
      name: "nix",
      status: "fail",
      detail: "MVM_NIX=/nonexistent/nix is not an executable file",
      fix: "Point MVM_NIX at the nix binary, or unset it to use 'nix' on PATH.",
    });
    assert.equal(rows.get("qemu")?.status, "fail");
    assert.equal(
      rows.get("qemu")?.detail,
      "MVM_QEMU_BIN=/nonexistent/qemu-system-x86_64 is not an executable file",
    );
    assert.equal(rows.get("qemu-img")?.status, "fail");
    assert.equal(
      rows.get("qemu-img")?.detail,
      "MVM_QEMU_IMG=/nonexistent/qemu-img is not an executable file",
    );
    assert.deepEqual(
      [rows.get("firecracker")?.status, rows.get("firecracker")?.detail],
      ["fail", "MVM_FIRECRACKER_BIN=no-such-firecracker names no program on PATH"],
    );
  });

  test("the binary a variable chose is the one doctor runs, and the row says which", async () => {
    const bin = join(tempDir(), "bin");
    const nix = script(
      bin,
      "nix",
      'if [ "$1" = --version ]; then echo "nix (Nix) 9.9.9"; else printf ok; fi',
    );
    const qemu = script(bin, "qemu", "echo 'QEMU emulator version 98.0.0'");
    const notQemu = script(bin, "not-qemu", "echo 'true (GNU coreutils) 9.1'");
    const rows = await doctor({ MVM_NIX: nix, MVM_QEMU_BIN: qemu, MVM_QEMU_IMG: notQemu });
    assert.deepEqual(
      [rows.get("nix")?.status, rows.get("nix")?.detail],
      ["ok", `nix (Nix) 9.9.9 (MVM_NIX=${nix})`],
    );
    assert.equal(rows.get("nix flakes")?.status, "ok");
    assert.deepEqual(
      [rows.get("qemu")?.status, rows.get("qemu")?.detail],
      ["ok", `QEMU emulator version 98.0.0 (MVM_QEMU_BIN=${qemu})`],
    );
    assert.equal(rows.get("qemu-img")?.status, "fail");
    assert.equal(
      rows.get("qemu-img")?.detail,
      `MVM_QEMU_IMG=${notQemu} is not qemu-img: its --version printed "true (GNU coreutils) 9.1"`,
    );
  });

  test("template build blames MVM_NIX, not PATH, when MVM_NIX names nothing", async () => {
    const data = tempDir();
    const flake = tempDir("mvm-flake-");
    writeFileSync(join(flake, "flake.nix"), "{ outputs = { self }: { }; }\n");
    const created = await runCli(["template", "create", "web", "--flake", flake], { dataDir: data });
    assert.equal(created.code, 0, created.stderr);
    const r = await runCli(["template", "build", "web"], {
      dataDir: data,
      env: { MVM_NIX: "/nonexistent/nix" },
    });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^error: nix cannot be run: MVM_NIX=\/nonexistent\/nix is not an executable file$/m,
    );
    assert.match(r.stderr, /^hint: Point MVM_NIX at the nix binary/m);
    assert.doesNotMatch(r.stderr, /is not installed/);
  });
});
