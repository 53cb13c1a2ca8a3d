import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { VmConfig } from "../../../src/hypervisor/backend.js";
import { MACHINE, qemuArgs, stableBootArgs } from "../../../src/hypervisor/qemu/args.js";
import { testQemuLaunch } from "../../helpers/qemu-boot.js";
import { tcgTbSizeMib } from "../../../src/hypervisor/qemu/tb-size.js";

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

describe("the tests' QEMU launcher", () => {
  test("boots the machine, kernel command line and devices production builds", async () => {
    const image = {
      dir: "/img",
      kernel: "/img/kernel",
      initrd: "/img/initrd",
      rootfs: "/img/rootfs.ext4",
      storePath: "/nix/store/x",
    };
    const launch = await testQemuLaunch({ image, workDir: "/tmp/vm", memMiB: 512, forward: [8080] });
    const prod = qemuArgs(cfg, { accel: "tcg", memory: "anonymous", incoming: false });
    assert.deepEqual(opt(launch.args, "-M"), [MACHINE]);
    assert.deepEqual(opt(launch.args, "-M"), opt(prod, "-M"));
    for (const flag of ["-accel", "-cpu", "-chardev"])
      assert.equal(opt(launch.args, flag).length, opt(prod, flag).length, flag);
    assert.deepEqual(opt(launch.args, "-cpu"), opt(prod, "-cpu"));
    const append = opt(launch.args, "-append")[0] ?? "";
    assert.ok(
      append.startsWith(`${stableBootArgs({})} `),
      `the template part of the command line: ${append}`,
    );
    assert.match(append, / mvm\.clock=\d+/, "the host's clock, as production hands it");
    const devices = (args: string[]) =>
      opt(args, "-device").map((d) => d.replace(/,(drive|netdev|chardev)=.*$/, ""));
    assert.deepEqual(devices(launch.args), devices(prod));
  });
});
