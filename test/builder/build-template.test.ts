import assert from "node:assert/strict";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { writeFakeFlake } from "../helpers/fake-flake.js";
import { cliFor, errorLines, nonce, readJson, revisionDir, scratch, sha256 } from "../helpers/scratch.js";

// `template build` against the real nix, offline, with tiny busybox-built flakes (see fake-flake.ts).

interface RevisionJson {
  revision_hash: string;
  flake_lock_hash: string;
  artifact_paths: {
    vmlinux: string;
    rootfs: string;
    initrd?: string;
    sizes: Record<string, number>;
  };
  snapshot: unknown;
  spec: { template_id: string; mem_mib: number };
  nix_out_path: string;
  attribute: string;
  system: string;
  mem_mib: number;
  vcpus: number;
}

describe("template build", () => {
  const root = scratch("mvm-build-");
  const data = join(root, "data");
  const flake = join(root, "flake");
  const cli = cliFor(data);
  const n = nonce();
  let rev1 = "";

  before(async () => {
    writeFakeFlake(flake, { nonce: n, packages: { default: { initrd: true, rootfsKiB: 2048 } } });
    const r = await cli(["template", "create", "web", "--flake", flake, "--mem", "512", "--cpus", "1"]);
    assert.equal(r.code, 0, r.stderr);
  });

  test("builds a revision: artifacts, revision.json, checksums.json, fc-base.json, current", async () => {
    const r = await cli(["template", "build", "web", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.cached, false);
    rev1 = out.revision_hash;
    assert.match(rev1, /^[0-9a-z]{32}$/);
    assert.ok(out.out_path.startsWith(`/nix/store/${rev1}-`), "revision id is the store hash of the output");
    const dir = revisionDir(data, "web", rev1);
    assert.equal(out.dir, dir);
    assert.equal(readlinkSync(join(data, "templates", "web", "current")), `artifacts/revisions/${rev1}`);
    assert.deepEqual(readdirSync(dir).sort(), [
      "checksums.json",
      "fc-base.json",
      "initrd",
      "kernel",
      "revision.json",
      "rootfs.ext4",
    ]);
    // The artifacts are the store's bytes (hard-linked when on the same filesystem).
    for (const f of ["kernel", "initrd", "rootfs.ext4"])
      assert.equal(sha256(join(dir, f)), sha256(join(out.out_path, f)), f);
    const rev = readJson<RevisionJson>(join(dir, "revision.json"));
    assert.equal(rev.revision_hash, rev1);
    assert.equal(rev.artifact_paths.vmlinux, "kernel");
    assert.equal(rev.artifact_paths.rootfs, "rootfs.ext4");
    assert.equal(rev.artifact_paths.initrd, "initrd");
    assert.equal(rev.artifact_paths.sizes.rootfs_bytes, 2048 * 1024);
    assert.equal(rev.artifact_paths.sizes.vmlinux_bytes, statSync(join(dir, "kernel")).size);
    assert.equal(rev.artifact_paths.sizes.initrd_bytes, statSync(join(dir, "initrd")).size);
    assert.equal(
      rev.artifact_paths.sizes.rootfs_allocated_bytes,
      statSync(join(dir, "rootfs.ext4")).blocks * 512,
    );
    assert.ok(
      rev.artifact_paths.sizes.nix_closure_bytes! > 2048 * 1024,
      "closure size from nix path-info -S",
    );
    assert.equal(rev.attribute, "packages.x86_64-linux.default");
    assert.equal(rev.system, "x86_64-linux");
    assert.equal(rev.mem_mib, 512);
    assert.equal(rev.vcpus, 1);
    assert.equal(rev.spec.template_id, "web");
    assert.equal(rev.snapshot, null);
    // A flake with no inputs has no flake.lock: the hash falls back to the revision, as in the original mvm.
    assert.equal(rev.flake_lock_hash, rev1);
    const sums = readJson<{ files: Record<string, string>; revision_hash: string; template_id: string }>(
      join(dir, "checksums.json"),
    );
    assert.equal(sums.revision_hash, rev1);
    assert.equal(sums.template_id, "web");
    assert.deepEqual(Object.keys(sums.files), [
      "fc-base.json",
      "initrd",
      "kernel",
      "revision.json",
      "rootfs.ext4",
    ]);
    for (const [f, h] of Object.entries(sums.files)) assert.equal(sha256(join(dir, f)), h, f);
    const fc = readJson<Record<string, Record<string, unknown>>>(join(dir, "fc-base.json"));
    assert.deepEqual(fc["boot-source"], {
      boot_args: "console=ttyS0 reboot=k panic=1 net.ifnames=0",
      initrd_path: "initrd",
      kernel_image_path: "kernel",
    });
    assert.deepEqual(fc["machine-config"], { mem_size_mib: 512, vcpu_count: 1 });
    // No staging directory is left behind.
    assert.deepEqual(
      readdirSync(join(data, "templates", "web", "artifacts", "revisions")).filter((e) => e.startsWith(".")),
      [],
    );
  });

  test("info shows the built revision", async () => {
    const r = await cli(["template", "info", "web", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.equal(info.revision.revision_hash, rev1);
    assert.equal(info.revision_dir, revisionDir(data, "web", rev1));
    const text = await cli(["template", "info", "web"]);
    assert.match(text.stdout, new RegExp(`Hash:\\s+${rev1.slice(0, 12)}`));
    assert.match(text.stdout, /Rootfs:\s+2\.0 MiB/);
    assert.match(text.stdout, /Closure:/);
  });

  test("an unchanged flake is a cache hit: nothing copied, the snapshot kept", async () => {
    const dir = revisionDir(data, "web", rev1);
    // What `build --snapshot` records: snapshot files and the snapshot field.
    mkdirSync(join(dir, "snapshot"));
    writeFileSync(join(dir, "snapshot", "vmstate.bin"), "state");
    const revFile = join(dir, "revision.json");
    const rec = readJson<Record<string, unknown>>(revFile);
    rec.snapshot = {
      created_at: "2026-11-25T10:00:00Z",
      vmstate_size_bytes: 5,
      mem_size_bytes: 0,
      boot_args: "console=ttyS0",
      vcpus: 1,
      mem_mib: 512,
    };
    writeFileSync(revFile, `${JSON.stringify(rec, null, 2)}\n`);
    const before = { rootfs: lstatSync(join(dir, "rootfs.ext4")), rev: lstatSync(revFile) };
    const r = await cli(["template", "build", "web"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Template 'web' is up to date \(revision: [0-9a-z]{12}\)/);
    const afterRoot = lstatSync(join(dir, "rootfs.ext4"));
    assert.equal(afterRoot.ino, before.rootfs.ino, "rootfs not replaced");
    assert.equal(lstatSync(revFile).mtimeMs, before.rev.mtimeMs, "revision.json not rewritten");
    assert.notEqual(readJson<RevisionJson>(revFile).snapshot, null);
    assert.equal(readFileSync(join(dir, "snapshot", "vmstate.bin"), "utf8"), "state");
  });

  test("--force makes nix rebuild the output; same bytes, same revision, snapshot kept", async () => {
    const dir = revisionDir(data, "web", rev1);
    const rootfsSum = sha256(join(dir, "rootfs.ext4"));
    const r = await cli(["template", "build", "web", "--force", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.revision_hash, rev1);
    assert.equal(out.cached, false);
    assert.equal(sha256(join(dir, "rootfs.ext4")), rootfsSum);
    const log = readFileSync(out.log, "utf8");
    assert.match(log, /--rebuild/);
    assert.match(log, /checking outputs of/, "nix really re-ran the builder");
    const rec = readJson<RevisionJson>(join(dir, "revision.json"));
    assert.notEqual(rec.snapshot, null, "byte-identical rebuild keeps the snapshot");
    assert.ok(existsSync(join(dir, "snapshot", "vmstate.bin")));
    const sums = readJson<{ files: Record<string, string> }>(join(dir, "checksums.json"));
    assert.equal(sums.files["snapshot/vmstate.bin"], sha256(join(dir, "snapshot", "vmstate.bin")));
    for (const [f, h] of Object.entries(sums.files)) assert.equal(sha256(join(dir, f)), h, f);
  });

  test("changed settings on an unchanged flake: metadata follows, artifacts untouched", async () => {
    const dir = revisionDir(data, "web", rev1);
    const ino = lstatSync(join(dir, "rootfs.ext4")).ino;
    assert.equal((await cli(["template", "edit", "web", "--mem", "768"])).code, 0);
    const r = await cli(["template", "build", "web", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).cached, true);
    assert.equal(lstatSync(join(dir, "rootfs.ext4")).ino, ino);
    assert.equal(readJson<RevisionJson>(join(dir, "revision.json")).mem_mib, 768);
    const fc = readJson<Record<string, Record<string, unknown>>>(join(dir, "fc-base.json"));
    assert.equal(fc["machine-config"]!.mem_size_mib, 768);
    const sums = readJson<{ files: Record<string, string> }>(join(dir, "checksums.json"));
    for (const [f, h] of Object.entries(sums.files)) assert.equal(sha256(join(dir, f)), h, f);
  });

  test("a changed flake gives a new revision; current moves, the old one stays", async () => {
    writeFakeFlake(flake, { nonce: n, packages: { default: { initrd: true, rootfsKiB: 2048, salt: "v2" } } });
    const r = await cli(["template", "build", "web", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const rev2 = JSON.parse(r.stdout).revision_hash;
    assert.notEqual(rev2, rev1);
    assert.equal(readlinkSync(join(data, "templates", "web", "current")), `artifacts/revisions/${rev2}`);
    assert.ok(existsSync(join(revisionDir(data, "web", rev1), "revision.json")));
  });

  test("a broken flake fails cleanly: one error line, the log's path, current unchanged", async () => {
    const current = readlinkSync(join(data, "templates", "web", "current"));
    const revs = readdirSync(join(data, "templates", "web", "artifacts", "revisions")).sort();
    const good = readFileSync(join(flake, "flake.nix"), "utf8");
    writeFileSync(join(flake, "flake.nix"), good.replace("outputs =", "outputs = = "));
    try {
      const r = await cli(["template", "build", "web"]);
      assert.equal(r.code, 1);
      const errors = errorLines(r.stderr);
      assert.equal(errors.length, 1, r.stderr);
      assert.match(errors[0]!, /nix build .* failed: syntax error/);
      assert.match(r.stderr, /hint: Full log: .*\/logs\/build-web-.*\.log/);
      assert.doesNotMatch(r.stderr, /node:internal|\.js:\d+:\d+/, "no stack trace");
      assert.match(r.stderr, /\n {2}.*syntax error/, "the end of the log is shown");
      assert.equal(readlinkSync(join(data, "templates", "web", "current")), current);
      assert.deepEqual(readdirSync(join(data, "templates", "web", "artifacts", "revisions")).sort(), revs);
    } finally {
      writeFileSync(join(flake, "flake.nix"), good);
    }
  });

  test("--force whose image differs from the snapshot's drops the snapshot", async () => {
    const current = join(data, "templates", "web", "current");
    const dir = join(join(data, "templates", "web"), readlinkSync(current));
    mkdirSync(join(dir, "snapshot"), { recursive: true });
    writeFileSync(join(dir, "snapshot", "vmstate.bin"), "old state");
    const revFile = join(dir, "revision.json");
    const rec = readJson<Record<string, unknown>>(revFile);
    rec.snapshot = {
      created_at: "2026-11-25T10:00:00Z",
      vmstate_size_bytes: 9,
      mem_size_bytes: 0,
      boot_args: "console=ttyS0",
      vcpus: 1,
      mem_mib: 768,
    };
    writeFileSync(revFile, `${JSON.stringify(rec, null, 2)}\n`);
    // The snapshot was taken from an image with other bytes (as after a packer change).
    const sumsFile = join(dir, "checksums.json");
    const sums = readJson<{ files: Record<string, string> }>(sumsFile);
    sums.files["rootfs.ext4"] = "0".repeat(64);
    writeFileSync(sumsFile, JSON.stringify(sums));
    const r = await cli(["template", "build", "web", "--force"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: the rebuilt image differs .* the snapshot is dropped/);
    assert.equal(readJson<RevisionJson>(revFile).snapshot, null);
    assert.ok(!existsSync(join(dir, "snapshot")));
    const after = readJson<{ files: Record<string, string> }>(sumsFile);
    assert.ok(!("snapshot/vmstate.bin" in after.files));
    for (const [f, h] of Object.entries(after.files)) assert.equal(sha256(join(dir, f)), h, f);
  });
});
