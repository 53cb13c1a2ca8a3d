import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
} from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { writeFakeFlake } from "../helpers/fake-flake.js";
import { cliFor, errorLines, nonce, readJson, scratch, sha256 } from "../helpers/scratch.js";

// What the build says when the flake, its packages or the machine are not what it needs.

describe("template build: attributes, output contract and failures", () => {
  const root = scratch("mvm-build-err-");
  const data = join(root, "data");
  const flake = join(root, "flake");
  const cli = cliFor(data);

  before(async () => {
    writeFakeFlake(flake, {
      nonce: nonce(),
      packages: {
        default: {},
        api: { kernel: "vmlinux", salt: "api" },
        "tenant-worker": { rootfs: "rootfs-file", salt: "worker" },
        broken: { fail: 3 },
        nokernel: { kernel: "none" },
        norootfs: { rootfs: "none" },
      },
    });
    for (const [name, profile] of [
      ["t-api", "api"],
      ["t-worker", "worker"],
      ["t-broken", "broken"],
      ["t-nokernel", "nokernel"],
      ["t-norootfs", "norootfs"],
      ["t-missing", "nope"],
    ])
      assert.equal(
        (await cli(["template", "create", name!, "--flake", flake, "--profile", profile!])).code,
        0,
      );
  });

  test("profile p builds packages.<system>.p; the kernel keeps its name (vmlinux)", async () => {
    const r = await cli(["template", "build", "t-api", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.attribute, "packages.x86_64-linux.api");
    assert.equal(out.revision.artifact_paths.vmlinux, "vmlinux");
    assert.ok(existsSync(join(out.dir, "vmlinux")));
  });

  test("profile p falls back to packages.<system>.tenant-p; a `rootfs` image becomes rootfs.ext4", async () => {
    const r = await cli(["template", "build", "t-worker", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.attribute, "packages.x86_64-linux.tenant-worker");
    assert.ok(existsSync(join(out.dir, "rootfs.ext4")));
    assert.ok(!existsSync(join(out.dir, "rootfs")));
  });

  test("a missing attribute lists the packages the flake has", async () => {
    const r = await cli(["template", "build", "t-missing"]);
    assert.equal(r.code, 1);
    const [line] = errorLines(r.stderr);
    assert.match(
      line!,
      /does not provide packages\.x86_64-linux\.nope or packages\.x86_64-linux\.tenant-nope/,
    );
    assert.match(line!, /packages\.x86_64-linux\.api/);
    assert.match(line!, /packages\.x86_64-linux\.tenant-worker/);
    assert.ok(!existsSync(join(data, "templates", "t-missing", "current")));
  });

  test("a failing builder: its last output lines and the log path, no revision", async () => {
    const r = await cli(["template", "build", "t-broken"]);
    assert.equal(r.code, 1);
    assert.equal(errorLines(r.stderr).length, 1, r.stderr);
    assert.match(
      errorLines(r.stderr)[0]!,
      /failed: builder for .*guest-broken\.drv' failed with exit code 3/,
    );
    assert.match(r.stderr, /guest-broken> oops: deliberate failure/);
    const logPath = /Full log: (\S+)/.exec(r.stderr)?.[1];
    assert.ok(logPath && existsSync(logPath));
    assert.match(readFileSync(logPath, "utf8"), /guest-broken> building .*, about to fail/);
    assert.ok(!existsSync(join(data, "templates", "t-broken", "artifacts")));
    assert.ok(!existsSync(join(data, "templates", "t-broken", "current")));
  });

  test("an output without a kernel or without a rootfs breaks the contract", async () => {
    for (const [t, what] of [
      ["t-nokernel", "no kernel file"],
      ["t-norootfs", "no root filesystem"],
    ]) {
      const r = await cli(["template", "build", t!]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(errorLines(r.stderr)[0]!, new RegExp(what!));
      assert.match(r.stderr, /hint: .*kernel.*vmlinux/);
      const revs = join(data, "templates", t!, "artifacts", "revisions");
      assert.deepEqual(existsSync(revs) ? readdirSync(revs) : [], [], "nothing staged is left");
      assert.ok(!existsSync(join(data, "templates", t!, "current")));
    }
  });

  test("no nix on PATH: how to install it", async () => {
    const bin = join(root, "bin-without-nix");
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, "node"));
    const r = await cli(["template", "build", "t-api"], { env: { PATH: bin } });
    assert.equal(r.code, 1);
    assert.match(errorLines(r.stderr)[0]!, /nix is not installed/);
    assert.match(r.stderr, /hint: .*apt-get install nix-bin/);
  });

  test("an unknown template and a bad name", async () => {
    const r = await cli(["template", "build", "ghost"]);
    assert.equal(r.code, 1);
    assert.match(errorLines(r.stderr)[0]!, /template ghost does not exist/);
    const bad = await cli(["template", "build", "Bad/Name"]);
    assert.equal(bad.code, 2);
  });

  test("a flake whose flake.nix git does not track is built as path: with a warning", async () => {
    const repo = join(root, "repo");
    mkdirSync(repo);
    execFileSync("git", ["init", "-q", repo]);
    writeFakeFlake(join(repo, "sub"), { nonce: nonce(), packages: { default: { salt: "git" } } });
    assert.equal((await cli(["template", "create", "t-git", "--flake", join(repo, "sub")])).code, 0);
    const r = await cli(["template", "build", "t-git", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: .*flake\.nix is not tracked by git/);
    const out = JSON.parse(r.stdout);
    assert.ok(out.warnings.length > 0);
    // Tracked: nix reads it through git, no warning.
    execFileSync("git", ["-C", repo, "add", "sub"]);
    const tracked = await cli(["template", "build", "t-git", "--json"]);
    assert.equal(tracked.code, 0, tracked.stderr);
    assert.doesNotMatch(tracked.stderr, /not tracked by git/);
    assert.equal(
      readJson<{ revision_hash: string }>(join(JSON.parse(tracked.stdout).dir, "revision.json"))
        .revision_hash,
      JSON.parse(tracked.stdout).revision_hash,
    );
  });

  test("a data dir on another filesystem gets sparse copies instead of hard links", async (t) => {
    if (!existsSync("/dev/shm") || statSync("/dev/shm").dev === statSync("/nix/store").dev) {
      t.skip("no tmpfs at /dev/shm apart from the store's filesystem");
      return;
    }
    const shm = mkdtempSync("/dev/shm/mvm-build-xdev-");
    try {
      const other = cliFor(join(shm, "data"));
      assert.equal((await other(["template", "create", "x", "--flake", flake, "--profile", "api"])).code, 0);
      const r = await other(["template", "build", "x", "--json"]);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      for (const f of ["vmlinux", "rootfs.ext4"]) {
        const st = statSync(join(out.dir, f));
        assert.equal(st.nlink, 1, `${f} is a copy`);
        assert.equal(sha256(join(out.dir, f)), sha256(join(out.out_path, f)), f);
      }
      // The fake rootfs is 1 MiB of zeros but for one line: the copy leaves the zeros as a hole.
      assert.ok(statSync(join(out.dir, "rootfs.ext4")).blocks * 512 < 256 * 1024);
      assert.equal(out.revision.artifact_paths.sizes.rootfs_bytes, 1024 * 1024);
    } finally {
      rmSync(shm, { recursive: true, force: true });
    }
  });
});
