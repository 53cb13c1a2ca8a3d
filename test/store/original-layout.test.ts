import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, promises as fs, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { runCli, tempDir } from "../helpers/cli.js";
import { buildExampleImage } from "../helpers/fixtures.js";
import { randomRevision } from "../helpers/registry/fixtures.js";

// The original mvm's local layout, made by hand from its documented shape: revisions in
// templates/<id>/artifacts/<rev>/ (kernel named vmlinux), `current -> revisions/<rev>` (a link that
// dangles relative to the template directory), and a checksums.json written by the original's push,
// which lists template.json (kept beside the revisions, not in them). Every command reads it.

const sha256 = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

interface OriginalImages {
  vmlinux: Buffer;
  rootfs: Buffer;
  initrd?: Buffer;
}

function specJson(name: string): string {
  return `${JSON.stringify(
    {
      schema_version: 1,
      template_id: name,
      flake_ref: "/home/dev/flakes/web",
      profile: "default",
      role: "worker",
      vcpus: 1,
      mem_mib: 256,
      data_disk_mib: 0,
      created_at: "2026-04-28T04:57:41.123456789+00:00",
      updated_at: "2026-04-28T04:57:41.123456789+00:00",
    },
    null,
    2,
  )}`;
}

/** One revision in artifacts/<rev>, with the checksums.json the original's push leaves behind. */
async function originalRevision(
  data: string,
  name: string,
  rev: string,
  builtAt: string,
  images: OriginalImages = { vmlinux: randomBytes(64 * 1024), rootfs: randomBytes(256 * 1024) },
): Promise<string> {
  const base = join(data, "templates", name);
  const dir = join(base, "artifacts", rev);
  await fs.mkdir(dir, { recursive: true });
  const spec = specJson(name);
  await fs.writeFile(join(base, "template.json"), spec);
  const revision = {
    schema_version: 1,
    revision_hash: rev,
    flake_ref: "/home/dev/flakes/web",
    flake_lock_hash: "sha256-Q0dnmRvkMT6Ot9dqWnPNLXq9mmaeFcMUgj2oBmT3qR8=",
    artifact_paths: {
      vmlinux: "vmlinux",
      rootfs: "rootfs.ext4",
      fc_base_config: "fc-base.json",
      ...(images.initrd ? { initrd: "initrd" } : {}),
      sizes: { vmlinux_bytes: images.vmlinux.length, rootfs_bytes: images.rootfs.length },
    },
    built_at: builtAt,
    profile: "default",
    role: "worker",
    vcpus: 1,
    mem_mib: 256,
    data_disk_mib: 0,
    snapshot: null,
  };
  const files: Record<string, Buffer | string> = {
    vmlinux: images.vmlinux,
    "rootfs.ext4": images.rootfs,
    "fc-base.json": JSON.stringify({ "boot-source": { kernel_image_path: "vmlinux" } }, null, 2),
    "revision.json": `${JSON.stringify(revision, null, 2)}\n`,
  };
  if (images.initrd) files.initrd = images.initrd;
  for (const [k, v] of Object.entries(files)) await fs.writeFile(join(dir, k), v);
  const sums: Record<string, string> = { "template.json": sha256(spec) };
  for (const [k, v] of Object.entries(files)) sums[k] = sha256(v);
  const sorted = Object.fromEntries(Object.entries(sums).sort(([a], [b]) => (a < b ? -1 : 1)));
  await fs.writeFile(
    join(dir, "checksums.json"),
    JSON.stringify({ schema_version: 1, template_id: name, revision_hash: rev, files: sorted }, null, 2),
  );
  await fs.rm(join(base, "current"), { force: true });
  await fs.symlink(`revisions/${rev}`, join(base, "current"));
  return dir;
}

async function ok(args: string[], dataDir: string, timeoutMs = 120_000, env: Record<string, string> = {}) {
  const r = await runCli(args, { dataDir, timeoutMs, env });
  assert.equal(r.code, 0, `mvmctl ${args.join(" ")} failed: ${r.stderr}`);
  return r;
}

describe("the original mvm's local layout (artifacts/<rev>, current -> revisions/<rev>)", () => {
  test("info reports the current revision in artifacts/<rev>", async () => {
    const data = tempDir();
    const rev = randomRevision();
    const dir = await originalRevision(data, "old", rev, "2026-04-28T04:58:02Z");
    const info = JSON.parse((await ok(["template", "info", "old", "--json"], data)).stdout);
    assert.equal(info.revision.revision_hash, rev);
    assert.equal(info.spec.mem_mib, 256);
    assert.match(JSON.stringify(info), new RegExp(dir.replace(/[/.]/g, "\\$&")));
  });

  test("verify checks the original's checksums.json, template.json included; a damaged file fails", async () => {
    const data = tempDir();
    const rev = randomRevision();
    const dir = await originalRevision(data, "old", rev, "2026-04-28T04:58:02Z");
    const r = await ok(["template", "verify", "old"], data);
    assert.match(r.stdout, /OK {7}template\.json/);
    assert.doesNotMatch(r.stdout, /MISSING/);
    const json = JSON.parse((await ok(["template", "verify", "old", "--json"], data)).stdout);
    assert.equal(json.ok, true);
    assert.equal(json.files.length, 5);

    await fs.appendFile(join(dir, "rootfs.ext4"), "x");
    const bad = await runCli(["template", "verify", "old"], { dataDir: data });
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /MISMATCH rootfs\.ext4/);
    assert.match(bad.stderr, /^error: revision \S+ of old failed verification: 1 of 5 files$/m);
  });

  test("push sends the revision from artifacts/<rev>; pulled elsewhere it verifies", async () => {
    const data = tempDir();
    const rev = randomRevision();
    await originalRevision(data, "old", rev, "2026-04-28T04:58:02Z");
    const reg = `file://${tempDir("mvm-reg-")}`;
    const push = JSON.parse(
      (await ok(["template", "push", "old", "--registry", reg, "--json"], data)).stdout,
    );
    assert.equal(push.revision, rev);
    assert.deepEqual(
      push.files.map((f: { name: string }) => f.name),
      ["fc-base.json", "revision.json", "rootfs.ext4", "template.json", "vmlinux"],
    );
    const other = tempDir();
    await ok(["template", "pull", "old", "--registry", reg], other);
    assert.equal(JSON.parse((await ok(["template", "verify", "old", "--json"], other)).stdout).ok, true);
  });

  test("pull onto a template in the original layout installs in ours and keeps the old revision readable", async () => {
    const src = tempDir();
    const newRev = randomRevision();
    await originalRevision(src, "old", newRev, "2026-05-01T00:00:00Z");
    const reg = `file://${tempDir("mvm-reg-")}`;
    await ok(["template", "push", "old", "--registry", reg], src);

    const data = tempDir();
    const oldRev = randomRevision();
    await originalRevision(data, "old", oldRev, "2026-04-28T04:58:02Z");
    await ok(["template", "pull", "old", "--registry", reg], data);
    assert.equal(
      await fs.readlink(join(data, "templates", "old", "current")),
      `artifacts/revisions/${newRev}`,
    );
    const info = JSON.parse((await ok(["template", "info", "old", "--json"], data)).stdout);
    assert.equal(info.revision.revision_hash, newRev);
    const older = await ok(["template", "verify", "old", "--revision", oldRev, "--json"], data);
    assert.equal(JSON.parse(older.stdout).ok, true);
  });

  test("prune removes old revisions in artifacts/<rev> and never the current one", async () => {
    const data = tempDir();
    const a = randomRevision();
    const b = randomRevision();
    const c = randomRevision();
    await originalRevision(data, "old", a, "2026-04-01T00:00:00Z");
    await originalRevision(data, "old", b, "2026-04-02T00:00:00Z");
    await originalRevision(data, "old", c, "2026-04-03T00:00:00Z");
    const r = JSON.parse((await ok(["template", "prune", "old", "--keep", "0", "--json"], data)).stdout);
    assert.deepEqual(r.removed.map((e: { rev: string }) => e.rev).sort(), [a, b].sort());
    const left = readdirSync(join(data, "templates", "old", "artifacts")).filter((n) => !n.startsWith("."));
    assert.deepEqual(left, [c]);
    assert.equal(JSON.parse((await ok(["template", "verify", "old", "--json"], data)).stdout).ok, true);
  });

  test("delete removes a template in the original layout", async () => {
    const data = tempDir();
    await originalRevision(data, "old", randomRevision(), "2026-04-28T04:58:02Z");
    await ok(["template", "delete", "old", "--force"], data);
    assert.equal(existsSync(join(data, "templates", "old")), false);
    const list = JSON.parse((await ok(["template", "list", "--json"], data)).stdout);
    assert.deepEqual([list.vm, list.broken], [[], []]);
  });

  test("up cold-boots a guest from artifacts/<rev>/vmlinux", async () => {
    const image = await buildExampleImage("minimal");
    const data = tempDir();
    const rev = randomRevision();
    await originalRevision(data, "old", rev, "2026-04-28T04:58:02Z", {
      vmlinux: await fs.readFile(image.kernel),
      rootfs: await fs.readFile(image.rootfs),
      initrd: await fs.readFile(image.initrd),
    });
    // The KVM probe can pass on a nested /dev/kvm whose guests then never boot: TCG unless told.
    const accel = { MVM_QEMU_ACCEL: process.env.MVM_QEMU_ACCEL ?? "tcg" };
    const up = await ok(["up", "--template", "old", "--name", "oldvm", "-d", "--json"], data, 300_000, accel);
    try {
      const started = JSON.parse(up.stdout);
      assert.equal(started.name, "oldvm");
      assert.equal(started.mode, "cold");
      const ls = JSON.parse((await ok(["ls", "--json"], data)).stdout);
      const vm = (Array.isArray(ls) ? ls : ls.vms).find((v: { name: string }) => v.name === "oldvm");
      assert.equal(vm?.revision, rev);
    } finally {
      await runCli(["down", "oldvm"], { dataDir: data, timeoutMs: 60_000 });
    }
  });
});
