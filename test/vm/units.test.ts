import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { parsePort, parseReadyTimeout } from "../../src/cli/vm-options.js";
import type { VmConfig } from "../../src/vm/backend.js";
import { qemuArgs, stableBootArgs } from "../../src/vm/qemu.js";
import { tcgTbSizeMib } from "../../src/vm/tcg-tb-size.js";
import { cliFor } from "../build/helpers.js";
import { tempDir } from "../helpers/cli.js";

const cfg: VmConfig = {
  name: "web-1a2b",
  dir: "/data dir,with comma/vms/web-1a2b",
  images: { kernel: "/rev,x/kernel", initrd: "/rev,x/initrd", rootfs: "/rev,x/rootfs.ext4" },
  vcpus: 2,
  memMib: 512,
  ports: [{ host: 18080, guest: 8080 }],
};

function opt(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1] as string] : []));
}

describe("QEMU command line", () => {
  test("no path from the data dir or the revision reaches QEMU's option syntax", () => {
    const args = qemuArgs(cfg, { accel: "tcg", memory: "shared", incoming: false });
    for (const a of args) assert.ok(!a.includes("/data dir") && !a.includes("/rev,x"), a);
    assert.deepEqual(opt(args, "-kernel"), ["kernel"]);
    assert.deepEqual(opt(args, "-initrd"), ["initrd"]);
    assert.deepEqual(opt(args, "-qmp"), ["unix:qmp.sock,server=on,wait=off"]);
  });

  test("memory: shared file when snapshotable, private mapping of the snapshot on restore, anonymous else", () => {
    const shared = qemuArgs(cfg, { accel: "tcg", memory: "shared", incoming: false });
    assert.deepEqual(opt(shared, "-object"), [
      "memory-backend-file,id=mem,size=512M,mem-path=mem.bin,share=on",
    ]);
    assert.match(opt(shared, "-M")[0] ?? "", /memory-backend=mem/);
    const restore = qemuArgs(cfg, { accel: "tcg", memory: "private", incoming: true });
    assert.deepEqual(opt(restore, "-object"), [
      "memory-backend-file,id=mem,size=512M,mem-path=restore-mem.bin,share=off",
    ]);
    assert.deepEqual(opt(restore, "-incoming"), ["defer"]);
    const plain = qemuArgs(cfg, { accel: "tcg", memory: "anonymous", incoming: false });
    assert.deepEqual(opt(plain, "-object"), []);
    assert.doesNotMatch(opt(plain, "-M")[0] ?? "", /memory-backend/);
  });

  test("TCG uses -cpu max, KVM -cpu host; ports become loopback hostfwd rules", () => {
    const tcg = qemuArgs(cfg, { accel: "tcg", memory: "anonymous", incoming: false });
    assert.deepEqual(opt(tcg, "-cpu"), ["max"]);
    assert.deepEqual(opt(tcg, "-accel"), ["tcg"]);
    assert.deepEqual(opt(tcg, "-netdev"), ["user,id=net0,hostfwd=tcp:127.0.0.1:18080-:8080"]);
    const kvm = qemuArgs(cfg, { accel: "kvm", memory: "anonymous", incoming: false });
    assert.deepEqual(opt(kvm, "-cpu"), ["host"]);
    assert.throws(
      () =>
        qemuArgs(
          { ...cfg, ports: [{ host: 1, guest: 2, hostAddress: "0.0.0.0,x" }] },
          {
            accel: "tcg",
            memory: "anonymous",
            incoming: false,
          },
        ),
      /invalid host address/,
    );
  });

  test("TCG's translation cache is sized (MVM_QEMU_TB_SIZE, default 32 MiB); KVM has none", () => {
    const size = tcgTbSizeMib({});
    assert.equal(size, 32);
    const tcg = qemuArgs(cfg, { accel: "tcg", memory: "anonymous", incoming: false, tbSizeMib: size });
    assert.deepEqual(opt(tcg, "-accel"), ["tcg,tb-size=32"]);
    assert.equal(tcgTbSizeMib({ MVM_QEMU_TB_SIZE: "16" }), 16);
    assert.equal(tcgTbSizeMib({ MVM_QEMU_TB_SIZE: "qemu" }), undefined);
    const kvm = qemuArgs(cfg, { accel: "kvm", memory: "anonymous", incoming: false, tbSizeMib: 64 });
    assert.deepEqual(opt(kvm, "-accel"), ["kvm"]);
    for (const bad of ["0", "4", "5000", "64M", "-1", "lots"])
      assert.throws(
        () => tcgTbSizeMib({ MVM_QEMU_TB_SIZE: bad }),
        (e: Error) => /^MVM_QEMU_TB_SIZE must be a size in MiB from 8 to 4096/.test(e.message),
        bad,
      );
  });

  test("the recorded boot args leave out host tuning (tsc rate)", () => {
    assert.equal(stableBootArgs(cfg), "console=ttyS0 panic=-1 quiet init_on_free=1");
    assert.equal(
      stableBootArgs({ ...cfg, bootArgs: "mvm.ip=10.0.0.2/24" }),
      "console=ttyS0 panic=-1 quiet init_on_free=1 mvm.ip=10.0.0.2/24",
    );
    const args = qemuArgs(cfg, { accel: "tcg", memory: "anonymous", incoming: false });
    assert.ok((opt(args, "-append")[0] ?? "").startsWith(stableBootArgs(cfg)));
  });
});

describe("VM option parsing", () => {
  test("-p HOST:GUEST and ADDR:HOST:GUEST; bad values are usage errors", () => {
    assert.deepEqual(parsePort("8080:80"), [{ host: 8080, guest: 80 }]);
    assert.deepEqual(parsePort("0.0.0.0:8080:80"), [{ host: 8080, guest: 80, hostAddress: "0.0.0.0" }]);
    for (const bad of ["80", "0:80", "70000:80", "a:b", "300.1.1.1:80:80", "8080:80;rm"])
      assert.throws(
        () => parsePort(bad),
        (e: Error & { kind?: string }) => e.kind === "usage",
        bad,
      );
    assert.throws(() => parsePort("8080:81", parsePort("8080:80")), /given twice/);
    assert.equal(parseReadyTimeout("30"), 30);
    assert.throws(() => parseReadyTimeout("0"), /ready-timeout/);
  });
});

describe("VM commands: bad input", () => {
  const data = tempDir("mvm-vm-usage-");
  mkdirSync(join(data, "templates"), { recursive: true });
  const cli = cliFor(data);

  test("usage errors exit 2 with one line; unknown names exit 1", async () => {
    for (const args of [
      ["up"],
      ["up", "--template", "web", "-p", "99999:80"],
      ["up", "--template", "Bad Name"],
      ["up", "--template", "web", "--hypervisor", "vmware"],
      ["up", "--template", "web", "--ready-timeout", "-1"],
      ["down"],
      ["down", "x", "--all"],
    ]) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(
        r.stderr
          .trim()
          .split("\n")
          .filter((l) => l.startsWith("error:")).length,
        1,
        r.stderr,
      );
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    }
    const missing = await cli(["up", "--template", "nosuch", "-d"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^error: template nosuch does not exist/m, missing.stderr);
    const down = await cli(["down", "nosuch"]);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /^error: no VM named nosuch/m);
    const logs = await cli(["logs", "nosuch"]);
    assert.equal(logs.code, 1);
    const ls = await cli(["ls", "--json"]);
    assert.equal(ls.code, 0);
    assert.deepEqual(JSON.parse(ls.stdout), []);
  });
});
