import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, test } from "node:test";
import { gunzipSync } from "node:zlib";
import { MvmError } from "../../src/core/errors.js";
import { ensureKit, type KitManifest } from "../../src/kit/index.js";
import { parseModulesDep, planModules, WANTED_MODULES } from "../../src/kit/modules.js";
import { DataPaths } from "../../src/store/paths.js";
import { runCli } from "../helpers/cli.js";

// The offline guest kit, built from this host's real Debian packages.

const work = mkdtempSync(join(tmpdir(), "mvm-kit-"));
after(async () => {
  await rm(work, { recursive: true, force: true });
});

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

test("kit build: content-addressed dir, current link, manifest hashes, modules in dependency order", async () => {
  const data = join(work, "a");
  const r = await runCli(["kit", "build", "--json"], { dataDir: data, timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { dir: string; hash: string; created: boolean; kernel: string };
  assert.equal(out.created, true);
  assert.equal(out.dir, join(data, "kit", out.hash));
  assert.equal(readlinkSync(join(data, "kit", "current")), out.hash);
  const m = JSON.parse(readFileSync(join(out.dir, "kit.json"), "utf8")) as KitManifest;
  assert.equal(m.system, "x86_64-linux");
  assert.equal(m.hash.slice(0, 16), out.hash);
  assert.match(m.kernel.version, /cloud-amd64$/);
  for (const [name, f] of Object.entries(m.files))
    assert.equal(sha(readFileSync(join(out.dir, name))), f.sha256, name);
  const order = readFileSync(join(out.dir, "modules", "load-order"), "utf8")
    .trim()
    .split("\n");
  const before = (a: string, b: string) =>
    assert.ok(order.indexOf(a) >= 0 && order.indexOf(a) < order.indexOf(b), `${a} before ${b}`);
  before("virtio_ring", "virtio");
  before("virtio", "virtio_mmio");
  before("virtio_mmio", "virtio_blk");
  before("failover", "net_failover");
  before("net_failover", "virtio_net");
  // Firecracker's guest channel: the three vsock modules, in dependency order.
  before("vsock", "vmw_vsock_virtio_transport_common");
  before("vmw_vsock_virtio_transport_common", "vmw_vsock_virtio_transport");
  // The ELF vmlinux unpacked from the bzImage (for Firecracker) carries the same build.
  const vmlinux = readFileSync(join(out.dir, "vmlinux"));
  assert.deepEqual([...vmlinux.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46]);
  assert.equal(m.kernel.vmlinux, "vmlinux");
  assert.ok(vmlinux.length > 3 * readFileSync(join(out.dir, "kernel")).length, "uncompressed");
  // A static bash for the guests' /bin/bash, from Debian's bash-static (installed by install-deps).
  assert.deepEqual(m.bash, { source: "/bin/bash-static" });
  assert.ok(readFileSync(join(out.dir, "bash")).equals(readFileSync("/bin/bash-static")));
  // The agent is a static binary that runs here too.
  const v = spawnSync(join(out.dir, "mvm-agent"), ["version"], { encoding: "utf8" });
  assert.match(v.stdout, /^mvm-agent \d+\.\d+\.\d+ \(protocol 1\)/);
  assert.equal(
    readdirSync(join(data, "kit")).filter((n) => n.startsWith(".")).length,
    0,
    "no temp dirs left",
  );

  // The initramfs is a real newc archive the kernel (and cpio) can read.
  const list = spawnSync("cpio", ["-t", "--quiet"], {
    input: gunzipSync(readFileSync(join(out.dir, "initrd"))),
    encoding: "utf8",
  });
  assert.equal(list.status, 0, list.stderr);
  for (const e of [
    "init",
    "bin/busybox",
    "dev/console",
    "lib/modules/load-order",
    "lib/modules/virtio_blk.ko",
    "lib/modules/vsock.ko",
    "lib/modules/vmw_vsock_virtio_transport_common.ko",
    "lib/modules/vmw_vsock_virtio_transport.ko",
  ])
    assert.ok(list.stdout.split("\n").includes(e), `${e} in initrd`);

  const again = await runCli(["kit", "build", "--json"], { dataDir: data, timeoutMs: 120_000 });
  assert.equal(JSON.parse(again.stdout).created, false, "same inputs, same kit");
  assert.equal(JSON.parse(again.stdout).hash, out.hash);
});

test("two processes building the kit at once end with one identical kit and no leftovers", async () => {
  const data = join(work, "b");
  const script = `import { ensureKit } from ${JSON.stringify(resolve(import.meta.dirname, "../../src/kit/index.js"))};
import { DataPaths } from ${JSON.stringify(resolve(import.meta.dirname, "../../src/store/paths.js"))};
const r = await ensureKit(new DataPaths(process.argv[1]));
console.log(JSON.stringify(r));`;
  const runOne = () =>
    new Promise<{ code: number | null; out: string }>((res) => {
      const c = spawn(process.execPath, ["--input-type=module", "-e", script, data], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      let out = "";
      c.stdout.on("data", (d) => {
        out += d;
      });
      c.on("close", (code) => res({ code, out }));
    });
  const [a, b] = await Promise.all([runOne(), runOne()]);
  assert.equal(a.code, 0);
  assert.equal(b.code, 0);
  const ra = JSON.parse(a.out);
  const rb = JSON.parse(b.out);
  assert.equal(ra.hash, rb.hash);
  assert.equal([ra.created, rb.created].filter(Boolean).length, 1, "exactly one process built it");
  assert.deepEqual(readdirSync(join(data, "kit")).sort(), [ra.hash, "current"].sort());
  // Built in another data dir from the same packages: the same bytes, so the same name.
  const other = await ensureKit(new DataPaths(join(work, "c")));
  assert.equal(other.hash, ra.hash);
});

test("a missing or unsuitable Debian package is named with its apt-get line", async () => {
  const paths = new DataPaths(join(work, "d"));
  const empty = join(work, "empty");
  mkdirSync(empty);
  const expectPkg = async (sources: Record<string, string>, pkg: string) => {
    await assert.rejects(ensureKit(paths, { sources }), (e: unknown) => {
      assert.ok(e instanceof MvmError);
      assert.match(e.message, new RegExp(pkg));
      assert.equal(e.hint, `Install it: apt-get install -y ${pkg}`);
      return true;
    });
  };
  await expectPkg({ bootDir: empty }, "linux-image-cloud-amd64");
  await expectPkg({ busybox: join(empty, "busybox") }, "busybox-static");
  await expectPkg({ busybox: "/usr/bin/env" }, "busybox-static"); // dynamically linked
  await expectPkg({ cc: join(empty, "gcc") }, "gcc");
  await expectPkg({ bash: "/usr/bin/env" }, "bash-static"); // dynamically linked
  assert.equal(existsSync(join(work, "d", "kit")), false, "nothing written");
});

test("a kernel without vsock modules (built in, or absent) still gets a kit: they are optional", () => {
  const dep = parseModulesDep(
    [
      "kernel/drivers/virtio/virtio_ring.ko:",
      "kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko",
      "kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko",
      "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko",
      "kernel/drivers/char/virtio_console.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko",
    ].join("\n"),
  );
  const plan = planModules(dep, WANTED_MODULES);
  assert.deepEqual(plan.order, ["virtio_ring", "virtio", "virtio_mmio", "virtio_blk", "virtio_console"]);
  for (const m of ["vsock", "vmw_vsock_virtio_transport_common", "vmw_vsock_virtio_transport"])
    assert.ok(plan.missing.includes(m), `${m} reported missing, not fatal`);
});
