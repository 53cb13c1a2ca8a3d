import assert from "node:assert/strict";
import { mkdirSync, openSync, readdirSync, readFileSync, readSync, closeSync, symlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { before, describe, test } from "node:test";
import { ensureTestKit, exampleFlakeDir } from "../helpers/fixtures.js";
import { cliFor, readJson, scratch, sha256 } from "../helpers/scratch.js";

// The real pipeline, offline: `template init --local --offline` for each preset, `create`, `build`
// (mkGuest through nix, its rootfs/ tree packed into ext4), `info`, a cache hit, and `--force`. The kit
// is the shared test kit (built once per machine); one test starts without any kit and has the build
// create it, with the example flake from nix/examples whose inputs point elsewhere.

interface BuildJson {
  revision_hash: string;
  cached: boolean;
  dir: string;
  log: string;
  revision: { artifact_paths: { vmlinux: string; initrd?: string; sizes: Record<string, number> } };
}

function isExt4(path: string): boolean {
  const fd = openSync(path, "r");
  const b = Buffer.alloc(2);
  readSync(fd, b, 0, 2, 1024 + 56); // superblock s_magic
  closeSync(fd);
  return b.readUInt16LE(0) === 0xef53;
}

function checkRevision(out: BuildJson): void {
  const files = readdirSync(out.dir).sort();
  assert.deepEqual(files, [
    "checksums.json",
    "fc-base.json",
    "initrd",
    "kernel",
    "revision.json",
    "rootfs.ext4",
  ]);
  assert.ok(isExt4(join(out.dir, "rootfs.ext4")), "rootfs/ tree packed into ext4");
  const sums = readJson<{ files: Record<string, string> }>(join(out.dir, "checksums.json")).files;
  for (const [f, h] of Object.entries(sums)) assert.equal(sha256(join(out.dir, f)), h, f);
  const sizes = out.revision.artifact_paths.sizes;
  assert.ok(sizes.vmlinux_bytes! > 1_000_000, "a real kernel");
  assert.ok(sizes.rootfs_allocated_bytes! < sizes.rootfs_bytes!, "the packed image is sparse");
  assert.ok(sizes.nix_closure_bytes! > 0);
}

describe("offline presets: init --local --offline, create, build", () => {
  const root = scratch("mvm-build-presets-");
  const data = join(root, "data");
  const proj = join(root, "proj");
  const cli = cliFor(data);
  const builds = new Map<string, BuildJson>();

  before(async () => {
    // Share the machine's test kit instead of building one per data dir.
    const kit = await ensureTestKit();
    mkdirSync(data, { recursive: true });
    mkdirSync(proj);
    symlinkSync(dirname(kit.dir), join(data, "kit"));
  });

  for (const preset of ["minimal", "http", "worker"]) {
    test(`${preset}: scaffold, create, build; info shows the revision`, async () => {
      const name = `p-${preset}`;
      const init = await cli([
        "template",
        "init",
        name,
        "--local",
        "--offline",
        "--preset",
        preset,
        "--dir",
        proj,
      ]);
      assert.equal(init.code, 0, init.stderr);
      const flake = join(proj, name);
      assert.equal((await cli(["template", "create", name, "--flake", flake, "--mem", "256"])).code, 0);
      const r = await cli(["template", "build", name, "--json"]);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as BuildJson;
      assert.equal(out.cached, false);
      checkRevision(out);
      // The build supplies both inputs (--override-input), so nix writes no lock file: without one,
      // flake_lock_hash is the revision itself.
      const rev = readJson<{ flake_lock_hash: string }>(join(out.dir, "revision.json"));
      assert.equal(rev.flake_lock_hash, out.revision_hash);
      const info = JSON.parse((await cli(["template", "info", name, "--json"])).stdout);
      assert.equal(info.revision.revision_hash, out.revision_hash);
      assert.equal(info.revision.artifact_paths.initrd, "initrd");
      builds.set(preset, out);
    });
  }

  test("a second build is a cache hit", async () => {
    const first = builds.get("http");
    assert.ok(first, "http was built");
    const r = await cli(["template", "build", "p-http", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as BuildJson;
    assert.equal(out.cached, true);
    assert.equal(out.revision_hash, first.revision_hash);
    const text = await cli(["template", "build", "p-http"]);
    assert.match(text.stderr, /Template 'p-http' is up to date/);
    assert.doesNotMatch(text.stderr, /packing rootfs/);
  });

  test("--force rebuilds with nix and yields the same rootfs SHA-256", async () => {
    const first = builds.get("minimal");
    assert.ok(first, "minimal was built");
    const before = sha256(join(first.dir, "rootfs.ext4"));
    const r = await cli(["template", "build", "p-minimal", "--force", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as BuildJson;
    assert.equal(out.revision_hash, first.revision_hash);
    assert.equal(out.cached, false);
    assert.equal(sha256(join(out.dir, "rootfs.ext4")), before);
    assert.match(readFileSync(out.log, "utf8"), /--rebuild/);
    checkRevision(out);
  });
});

describe("nix/examples: a flake whose inputs are published references", () => {
  test("the first build creates the guest kit and points mvm / mvm-kit at this machine's copies", async () => {
    const root = scratch("mvm-build-example-");
    const data = join(root, "data");
    const cli = cliFor(data);
    assert.equal((await cli(["template", "create", "ex", "--flake", exampleFlakeDir("minimal")])).code, 0);
    const r = await cli(["template", "build", "ex", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const log = readFileSync((JSON.parse(r.stdout) as BuildJson).log, "utf8");
    assert.match(log, / --override-input mvm-kit path:\S+\/data\/kit\/[0-9a-f]+ /);
    const kits = readdirSync(join(data, "kit")).filter((e) => !e.startsWith("."));
    assert.ok(kits.length >= 1, `a kit was created: ${kits}`);
    checkRevision(JSON.parse(r.stdout) as BuildJson);
  });
});
