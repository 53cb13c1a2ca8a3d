import assert from "node:assert/strict";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { MvmError } from "../../src/core/errors.js";
import { lookupTool, requireTool } from "../../src/host/tools.js";
import { QemuBackend } from "../../src/hypervisor/qemu/backend.js";
import { tempDir } from "../helpers/cli.js";

function program(dir: string, name: string, mode = 0o755): string {
  mkdirSync(dir, { recursive: true });
  const p = join(dir, name);
  writeFileSync(p, "#!/bin/sh\necho fake\n");
  chmodSync(p, mode);
  return p;
}

describe("finding the programs mvmctl runs", () => {
  test("the variable wins over PATH; a bare name in it is looked up on PATH", () => {
    const root = tempDir();
    const onPath = program(join(root, "bin"), "nix");
    const chosen = program(join(root, "opt"), "my-nix");
    const env = { PATH: join(root, "bin") };
    assert.deepEqual([lookupTool("nix", env).path, lookupTool("nix", env).chosenBy], [onPath, undefined]);
    const byVar = lookupTool("nix", { ...env, MVM_NIX: chosen });
    assert.equal(byVar.path, chosen);
    assert.deepEqual(byVar.chosenBy, { variable: "MVM_NIX", value: chosen });
    program(join(root, "bin"), "nix-2.8");
    assert.equal(lookupTool("nix", { ...env, MVM_NIX: "nix-2.8" }).path, join(root, "bin", "nix-2.8"));
    assert.equal(lookupTool("nix", { ...env, MVM_NIX: "  " }).path, onPath, "a blank variable is unset");
  });

  test("a variable that names nothing usable is an error naming the variable, not PATH", () => {
    const root = tempDir();
    const notExec = program(root, "qemu", 0o644);
    const cases: [Record<string, string>, RegExp][] = [
      [
        { MVM_QEMU_BIN: join(root, "missing") },
        /^qemu cannot be run: MVM_QEMU_BIN=.*\/missing is not an executable file$/,
      ],
      [{ MVM_QEMU_BIN: notExec }, /^qemu cannot be run: MVM_QEMU_BIN=.*\/qemu is not an executable file$/],
      [{ MVM_QEMU_BIN: root }, /^qemu cannot be run: MVM_QEMU_BIN=.* is not an executable file$/],
      [
        { MVM_QEMU_BIN: "no-such-qemu" },
        /^qemu cannot be run: MVM_QEMU_BIN=no-such-qemu names no program on PATH$/,
      ],
      [
        { MVM_FIRECRACKER_BIN: "/nope/fc" },
        /^firecracker cannot be run: MVM_FIRECRACKER_BIN=\/nope\/fc is not/,
      ],
    ];
    for (const [vars, message] of cases) {
      const tool = "MVM_QEMU_BIN" in vars ? "qemu" : "firecracker";
      assert.throws(
        () => requireTool(tool, { PATH: "/usr/bin:/bin", ...vars }),
        (e: unknown) => {
          assert.ok(e instanceof MvmError);
          assert.match(e.message, message);
          assert.match(e.hint ?? "", new RegExp(`^Point ${Object.keys(vars)[0]} at the ${tool} binary`));
          return true;
        },
      );
    }
  });

  test("nothing on PATH: says so, and how to install or point the variable at it", () => {
    assert.throws(() => requireTool("nix", { PATH: tempDir() }), {
      message: "nix is not installed: there is no 'nix' program on PATH",
      hint: /apt-get install nix-bin.*Or point MVM_NIX at it\.$/,
    });
    assert.throws(() => requireTool("qemu-img", { PATH: tempDir() }), {
      message: "qemu-img is not installed: there is no 'qemu-img' program on PATH",
      hint: /apt-get install qemu-utils\. Or point MVM_QEMU_IMG at it\.$/,
    });
  });

  test("the QEMU backend runs the binary MVM_QEMU_BIN chose and says so when it is not there", async () => {
    const backend = new QemuBackend({ env: { ...process.env, MVM_QEMU_BIN: "/nonexistent/qemu" } });
    const a = await backend.available();
    assert.equal(a.ok, false);
    assert.equal(a.reason, "qemu cannot be run: MVM_QEMU_BIN=/nonexistent/qemu is not an executable file");
    const fake = join(tempDir(), "qemu-system-x86_64");
    writeFileSync(fake, "#!/bin/sh\necho 'QEMU emulator version 99.1.0'\n", { mode: 0o755 });
    assert.equal(await new QemuBackend({ env: { ...process.env, MVM_QEMU_BIN: fake } }).version(), "99.1.0");
  });
});
