import assert from "node:assert/strict";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { cliFor } from "../helpers/scratch.js";
import { tempDir } from "../helpers/cli.js";
import { ensureTestKit } from "../helpers/fixtures.js";
import { freePort } from "../helpers/qemu-boot.js";
import { type OciServer, type S3Server, startOci, startS3 } from "../helpers/registry/servers.js";

// Templates as code, end to end with real nix, QEMU (TCG), docker-registry and s3rver: init writes
// mvm.toml; it is edited; `build --snapshot` from a subdirectory; `up` restores; a changed `mem`
// makes `up` cold-boot and say why; `build --snapshot` again; tag; push to OCI and S3; pull by tag and
// by digest onto empty data dirs; `up NAME:TAG` and `up NAME@digest` restore and serve.

const root = tempDir("mvm-manifest-flow-");
const pids: number[] = [];
let oci: OciServer;
let s3: S3Server;

before(async () => {
  [oci, s3] = await Promise.all([startOci(), startS3()]);
});

after(async () => {
  for (const pid of pids)
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  await Promise.all([oci?.stop(), s3?.stop()]);
  await rm(root, { recursive: true, force: true });
});

interface UpJson {
  name: string;
  mode: string;
  pid: number;
}

type Result = { code: number | null; stdout: string; stderr: string };

async function ok(r: Promise<Result>): Promise<Result> {
  const out = await r;
  assert.equal(out.code, 0, out.stderr);
  return out;
}

async function serves(port: number): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(20_000) });
  await res.arrayBuffer();
  assert.equal(res.status, 200);
}

test("init, edit mvm.toml, build --snapshot, up, resize, tag, push, pull by tag and digest, up NAME:TAG", async () => {
  const kit = await ensureTestKit();
  const builder = join(root, "builder");
  mkdirSync(builder, { recursive: true });
  symlinkSync(dirname(kit.dir), join(builder, "kit"));
  const proj = join(root, "proj");
  mkdirSync(proj);
  const env = { ...oci.env, ...s3.env };
  const b = cliFor(builder, env);

  await ok(b(["template", "init", "web", "--local", "--offline", "--preset", "http", "--dir", proj]));
  const dir = join(proj, "web");
  const manifest = join(dir, "mvm.toml");
  const text = readFileSync(manifest, "utf8");
  assert.match(text, /^name = "web"$/m);
  writeFileSync(manifest, text.replace(/^mem = .*$/m, 'mem = "256M"').replace(/^vcpus = .*$/m, "vcpus = 1"));
  const sub = join(dir, "notes", "deeper");
  mkdirSync(sub, { recursive: true });

  // One boot to take the snapshot, from a subdirectory of the project.
  const built = JSON.parse((await ok(b(["build", "--snapshot", "--json"], { cwd: sub }))).stdout);
  assert.equal(built.created, true);
  assert.equal(built.manifest, manifest);
  assert.equal(built.snapshot.mem_mib, 256);

  // `up` with no argument: the nearest mvm.toml names the template; its snapshot is restored.
  const first = JSON.parse(
    (await ok(b(["up", "-d", "--json", "--name", "first"], { cwd: sub }))).stdout,
  ) as UpJson;
  pids.push(first.pid);
  assert.equal(first.mode, "restore");
  await ok(b(["down", "first"]));

  // More memory in the manifest: the template follows; the old snapshot no longer fits, and up says so.
  writeFileSync(manifest, readFileSync(manifest, "utf8").replace(/^mem = .*$/m, 'mem = "320M"'));
  const resized = JSON.parse((await ok(b(["build", "--json"], { cwd: dir }))).stdout);
  assert.deepEqual(resized.changed, ["mem_mib"]);
  const cold = await ok(b(["up", dir, "-d", "--json", "--name", "cold"]));
  const coldUp = JSON.parse(cold.stdout) as UpJson;
  pids.push(coldUp.pid);
  assert.equal(coldUp.mode, "cold");
  assert.match(
    cold.stderr,
    /Cold boot: .*sizing changed since its snapshot was taken \(memory 256 → 320 MiB\)/,
  );
  await ok(b(["down", "cold"]));

  const again = JSON.parse((await ok(b(["build", "--snapshot", "--json"], { cwd: dir }))).stdout);
  assert.equal(again.snapshot.mem_mib, 320);
  const rev = again.revision_hash as string;
  await ok(b(["template", "tag", "web", "current", "stable"]));

  const toOci = JSON.parse(
    (await ok(b(["template", "push", "web", "--registry", oci.url("mvm"), "--json"]))).stdout,
  );
  assert.deepEqual(toOci.tags, [{ tag: "stable", guard: "checked" }]);
  const digest = toOci.digest as string;
  assert.match(digest, /^sha256:[0-9a-f]{64}$/);
  const toS3 = JSON.parse(
    (await ok(b(["template", "push", "web", "--registry", s3.url("mvm"), "--json"]))).stdout,
  );
  assert.deepEqual(
    toS3.tags.map((t: { tag: string }) => t.tag),
    ["stable"],
  );

  // Host 1: an empty data dir pulls web:stable from S3 and restores it.
  const h1 = cliFor(join(root, "host1"), env);
  const byTag = JSON.parse(
    (await ok(h1(["template", "pull", "web", "--registry", s3.url("mvm"), "--tag", "stable", "--json"])))
      .stdout,
  );
  assert.equal(byTag.revision, rev);
  const port1 = await freePort();
  const up1 = JSON.parse(
    (await ok(h1(["up", "web:stable", "-d", "--json", "--name", "tagged", "-p", `${port1}:8080`]))).stdout,
  ) as UpJson;
  pids.push(up1.pid);
  assert.equal(up1.mode, "restore");
  await serves(port1);
  await ok(h1(["down", "tagged"]));

  // Host 2: an empty data dir pulls by the OCI digest push printed and starts NAME@digest.
  const h2 = cliFor(join(root, "host2"), env);
  const byDigest = JSON.parse(
    (await ok(h2(["template", "pull", "web", "--registry", `${oci.url("mvm")}@${digest}`, "--json"]))).stdout,
  );
  assert.equal(byDigest.revision, rev);
  assert.equal(byDigest.digest, digest);
  const port2 = await freePort();
  const up2 = JSON.parse(
    (await ok(h2(["up", `web@${digest}`, "-d", "--json", "--name", "pinned", "-p", `${port2}:8080`]))).stdout,
  ) as UpJson;
  pids.push(up2.pid);
  assert.equal(up2.mode, "restore");
  await serves(port2);
  await ok(h2(["down", "pinned"]));
});
