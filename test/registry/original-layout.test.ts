import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, promises as fs, readdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { writeChecksums } from "../../src/store/checksums.js";
import { runCli, tempDir } from "../helpers/cli.js";
import { makeRevision, randomRevision } from "../helpers/registry/fixtures.js";
import { type S3Server, startS3 } from "../helpers/registry/servers.js";

// Interoperability with the original mvm's registries, checked with a third-party client (awscli):
// what `push --layout original` writes is what the original reads (plain objects whose SHA-256 is the
// one checksums.json lists, the kernel as `vmlinux`, the original's checksums.json shape), and a
// registry written the original's way (hand-made here from its documented layout) is pulled.

const run = promisify(execFile);
const sha256 = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

function awsEnv(s3: S3Server): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: tempDir("mvm-aws-home-"),
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    AWS_DEFAULT_REGION: "us-east-1",
  };
}

/** `aws s3 cp` one object to a local file (or a local file up), as a user of the original would. */
async function awsCp(s3: S3Server, from: string, to: string): Promise<void> {
  await run("aws", ["--endpoint-url", s3.endpoint, "s3", "cp", "--only-show-errors", from, to], {
    env: awsEnv(s3),
  });
}

/** A revision laid out as the original's push writes it (its documented file set and index shape). */
function originalRevision(name: string, rev: string): Record<string, Buffer> {
  const spec = {
    schema_version: 1,
    template_id: name,
    flake_ref: "/home/dev/flakes/web",
    profile: "default",
    role: "worker",
    vcpus: 2,
    mem_mib: 512,
    data_disk_mib: 0,
    created_at: "2026-04-28T04:57:41.123456789+00:00",
    updated_at: "2026-04-28T04:57:41.123456789+00:00",
  };
  const revision = {
    schema_version: 1,
    revision_hash: rev,
    flake_ref: spec.flake_ref,
    flake_lock_hash: "sha256-Q0dnmRvkMT6Ot9dqWnPNLXq9mmaeFcMUgj2oBmT3qR8=",
    artifact_paths: {
      vmlinux: "vmlinux",
      rootfs: "rootfs.ext4",
      fc_base_config: "fc-base.json",
      sizes: { vmlinux_bytes: 65536, rootfs_bytes: 1 << 20 },
    },
    built_at: "2026-04-28T04:58:02Z",
    profile: "default",
    role: "worker",
    vcpus: 2,
    mem_mib: 512,
    data_disk_mib: 0,
    snapshot: null,
  };
  const rootfs = Buffer.alloc(1 << 20);
  randomBytes(4096).copy(rootfs, 8192);
  const files: Record<string, Buffer> = {
    "template.json": Buffer.from(JSON.stringify(spec, null, 2)),
    "revision.json": Buffer.from(`${JSON.stringify(revision, null, 2)}\n`),
    vmlinux: randomBytes(65536),
    "rootfs.ext4": rootfs,
    "fc-base.json": Buffer.from(JSON.stringify({ "boot-source": { kernel_image_path: "vmlinux" } }, null, 2)),
  };
  const sums: Record<string, string> = {};
  for (const k of Object.keys(files).sort()) sums[k] = sha256(files[k]!);
  files["checksums.json"] = Buffer.from(
    JSON.stringify({ schema_version: 1, template_id: name, revision_hash: rev, files: sums }, null, 2),
  );
  return files;
}

async function writeOriginalRegistry(
  root: string,
  name: string,
  rev: string,
): Promise<Record<string, Buffer>> {
  const files = originalRevision(name, rev);
  const dir = join(root, "templates", name, "revisions", rev);
  await fs.mkdir(dir, { recursive: true });
  for (const [k, v] of Object.entries(files)) await fs.writeFile(join(dir, k), v);
  await fs.writeFile(join(root, "templates", name, "current"), `${rev}\n`);
  return files;
}

async function ok(args: string[], dataDir: string, env: Record<string, string> = {}) {
  const r = await runCli(args, { dataDir, env, timeoutMs: 120_000 });
  assert.equal(r.code, 0, `mvmctl ${args.join(" ")} failed: ${r.stderr}`);
  return r;
}

/** A fixture revision whose kernel is a bzImage named `kernel`, as our builds of mkGuest flakes have. */
async function revisionWithKernelNamedKernel(home: string, name: string) {
  const fx = await makeRevision(home, name, { snapshot: true, rootfsBytes: 32 << 20 });
  await fs.rename(join(fx.dir, "vmlinux"), join(fx.dir, "kernel"));
  const revFile = join(fx.dir, "revision.json");
  const revision = JSON.parse(await fs.readFile(revFile, "utf8"));
  revision.artifact_paths.vmlinux = "kernel";
  await fs.writeFile(revFile, `${JSON.stringify(revision, null, 2)}\n`);
  await writeChecksums(fx.dir, name, fx.rev);
  return fx;
}

describe("registries in the original mvm's layout", () => {
  let s3: S3Server;
  before(async () => {
    s3 = await startS3();
  });
  after(async () => {
    await s3.stop();
  });

  test("MVM_TEMPLATE_REGISTRY_LAYOUT=original on S3: aws s3 cp of every listed key matches checksums.json", async () => {
    const home = tempDir();
    const fx = await revisionWithKernelNamedKernel(home, "web");
    const kernelSha = sha256(await fs.readFile(join(fx.dir, "kernel")));
    const rootfsSha = sha256(await fs.readFile(join(fx.dir, "rootfs.ext4")));
    const push = await ok(["template", "push", "web", "--json"], home, {
      ...s3.env,
      MVM_TEMPLATE_REGISTRY_BUCKET: s3.bucket,
      MVM_TEMPLATE_REGISTRY_LAYOUT: "original",
    });
    const result = JSON.parse(push.stdout) as { layout: string; snapshot: boolean };
    assert.equal(result.layout, "original");
    assert.equal(result.snapshot, false);

    const base = `s3://${s3.bucket}/mvm/templates/web`;
    const got = tempDir("mvm-aws-got-");
    await awsCp(s3, `${base}/current`, join(got, "current"));
    assert.equal(await fs.readFile(join(got, "current"), "utf8"), `${fx.rev}\n`);
    await awsCp(s3, `${base}/revisions/${fx.rev}/checksums.json`, join(got, "checksums.json"));
    const index = JSON.parse(await fs.readFile(join(got, "checksums.json"), "utf8"));
    // The original's shape: exactly these four fields.
    assert.deepEqual(Object.keys(index).sort(), ["files", "revision_hash", "schema_version", "template_id"]);
    assert.equal(index.template_id, "web");
    assert.equal(index.revision_hash, fx.rev);
    assert.deepEqual(Object.keys(index.files), [
      "fc-base.json",
      "initrd",
      "revision.json",
      "rootfs.ext4",
      "template.json",
      "vmlinux",
    ]);
    for (const [name, expected] of Object.entries(index.files as Record<string, string>)) {
      const local = join(got, name);
      await awsCp(s3, `${base}/revisions/${fx.rev}/${name}`, local);
      assert.equal(sha256(await fs.readFile(local)), expected, `${name} as downloaded by aws s3 cp`);
    }
    assert.equal(index.files.vmlinux, kernelSha);
    assert.equal(index.files["rootfs.ext4"], rootfsSha);
    const revision = JSON.parse(await fs.readFile(join(got, "revision.json"), "utf8"));
    assert.equal(revision.artifact_paths.vmlinux, "vmlinux");
    assert.equal(revision.snapshot, null);

    // The revision here (kernel named `kernel`, with a snapshot) still verifies against what was pushed.
    const remote = JSON.parse(
      (
        await ok(["template", "verify", "web", "--remote", "--json"], home, {
          ...s3.env,
          MVM_TEMPLATE_REGISTRY_BUCKET: s3.bucket,
        })
      ).stdout,
    );
    assert.equal(remote.ok, true, JSON.stringify(remote.files));
    const vmlinux = remote.files.find((f: { name: string }) => f.name === "vmlinux");
    assert.deepEqual([vmlinux.status, vmlinux.actual], ["OK", kernelSha]);
  });

  test("--layout original on file:// writes plain objects; pulled back, the revision runs from vmlinux", async () => {
    const home = tempDir();
    const fx = await revisionWithKernelNamedKernel(home, "api");
    const root = tempDir("mvm-reg-");
    const push = await ok(
      ["template", "push", "api", "--registry", `file://${root}`, "--layout", "original"],
      home,
    );
    assert.match(push.stderr, /original mvm layout/);
    const dir = join(root, "templates", "api", "revisions", fx.rev);
    assert.deepEqual(readdirSync(dir).sort(), [
      "checksums.json",
      "fc-base.json",
      "initrd",
      "revision.json",
      "rootfs.ext4",
      "template.json",
      "vmlinux",
    ]);
    const index = JSON.parse(await fs.readFile(join(dir, "checksums.json"), "utf8"));
    for (const [name, expected] of Object.entries(index.files as Record<string, string>))
      assert.equal(sha256(await fs.readFile(join(dir, name))), expected, name);

    const empty = tempDir();
    await ok(["template", "pull", "api", "--registry", `file://${root}`], empty);
    const verify = JSON.parse((await ok(["template", "verify", "api", "--json"], empty)).stdout);
    assert.equal(verify.ok, true);
    const info = JSON.parse((await ok(["template", "info", "api", "--json"], empty)).stdout);
    assert.equal(info.revision.artifact_paths.vmlinux, "vmlinux");
    assert.ok(existsSync(join(empty, "templates", "api", "artifacts", "revisions", fx.rev, "vmlinux")));

    const bad = await runCli(["template", "push", "api", "--registry", `file://${root}`, "--layout", "v2"], {
      dataDir: home,
    });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^error: invalid --layout "v2": expected mvm or original$/m);
  });

  test("a file:// registry written by the original is pulled, verified and installed in our layout", async () => {
    const root = tempDir("mvm-reg-");
    const rev = randomRevision();
    const files = await writeOriginalRegistry(root, "legacy", rev);
    const home = tempDir();
    const pull = JSON.parse(
      (await ok(["template", "pull", "legacy", "--registry", `file://${root}`, "--json"], home)).stdout,
    );
    assert.equal(pull.revision, rev);
    assert.equal(pull.layout, "original");
    const dir = join(home, "templates", "legacy", "artifacts", "revisions", rev);
    for (const name of ["vmlinux", "rootfs.ext4", "fc-base.json", "revision.json", "template.json"])
      assert.deepEqual(await fs.readFile(join(dir, name)), files[name], name);
    const verify = JSON.parse((await ok(["template", "verify", "legacy", "--json"], home)).stdout);
    assert.equal(verify.ok, true);
    assert.equal(verify.files.length, 5);
    const info = JSON.parse((await ok(["template", "info", "legacy", "--json"], home)).stdout);
    assert.equal(info.spec.mem_mib, 512);
    assert.equal(info.revision.revision_hash, rev);
  });

  test("an S3 registry written by the original (uploaded with aws s3 cp) is pulled; a bad object installs nothing", async () => {
    const src = tempDir("mvm-orig-");
    const rev = randomRevision();
    const files = await writeOriginalRegistry(src, "orig", rev);
    const base = `s3://${s3.bucket}/team/templates/orig`;
    for (const name of Object.keys(files))
      await awsCp(
        s3,
        join(src, "templates", "orig", "revisions", rev, name),
        `${base}/revisions/${rev}/${name}`,
      );
    await awsCp(s3, join(src, "templates", "orig", "current"), `${base}/current`);
    const env = { ...s3.env };
    const url = s3.url("team");

    const home = tempDir();
    await ok(["template", "pull", "orig", "--registry", url], home, env);
    const dir = join(home, "templates", "orig", "artifacts", "revisions", rev);
    assert.deepEqual(await fs.readFile(join(dir, "rootfs.ext4")), files["rootfs.ext4"]);
    assert.equal(JSON.parse((await ok(["template", "verify", "orig", "--json"], home)).stdout).ok, true);
    const remote = await ok(
      ["template", "verify", "orig", "--remote", "--registry", url, "--json"],
      home,
      env,
    );
    assert.equal(JSON.parse(remote.stdout).ok, true, remote.stdout);

    // An object that does not match the original's checksums.json: refused, and an empty data dir
    // stays empty (no template directory, no artifacts/revisions left behind).
    const tampered = join(src, "tampered");
    await fs.writeFile(tampered, randomBytes(65536));
    await awsCp(s3, tampered, `${base}/revisions/${rev}/vmlinux`);
    const fresh = tempDir();
    const bad = await runCli(["template", "pull", "orig", "--registry", url], {
      dataDir: fresh,
      env,
      timeoutMs: 120_000,
    });
    assert.equal(bad.code, 1);
    assert.match(
      bad.stderr,
      /^error: checksum mismatch for vmlinux \(expected [0-9a-f]{64}, got [0-9a-f]{64}\)/m,
    );
    const templates = join(fresh, "templates");
    assert.deepEqual(existsSync(templates) ? readdirSync(templates) : [], []);
    const list = await ok(["template", "list", "--json"], fresh);
    assert.deepEqual(JSON.parse(list.stdout).broken, []);
  });
});
