import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, promises as fs, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { toJson } from "../../../src/core/schema.js";
import { writeChecksums } from "../../../src/store/checksums.js";
import { CLI, runCli, tempDir } from "../../helpers/cli.js";
import { makeRevision, treeDigest } from "../../helpers/registry/fixtures.js";

// The default file:// registry end to end through the real CLI: round trip onto an empty data dir,
// dedup, tampering, hostile indexes, SIGKILL during a pull, concurrent pushes, --no-snapshot.

function json<T = Record<string, unknown>>(text: string): T {
  return JSON.parse(text) as T;
}

async function ok(args: string[], dataDir: string, env: Record<string, string> = {}) {
  const r = await runCli(args, { dataDir, env, timeoutMs: 120_000 });
  assert.equal(r.code, 0, `mvmctl ${args.join(" ")} failed: ${r.stderr}`);
  return r;
}

describe("file:// registry", () => {
  test("round trip onto an empty data dir: push, pull, verify, info; rootfs comes back sparse", async () => {
    const home = tempDir();
    const fx = await makeRevision(home, "web", {
      snapshot: true,
      rootfsBytes: 256 << 20,
      rootfsDataBytes: 4 << 20,
    });
    const reg = `file://${tempDir("mvm-reg-")}`;
    const push = json<{ uploaded_bytes: number; files: { name: string; uploaded: boolean }[] }>(
      (await ok(["template", "push", "web", "--registry", reg, "--json"], home)).stdout,
    );
    assert.deepEqual(
      push.files.map((f) => f.name),
      [
        "fc-base.json",
        "initrd",
        "revision.json",
        "rootfs.ext4",
        "snapshot/mem.bin",
        "snapshot/vmstate.bin",
        "template.json",
        "vmlinux",
      ],
    );
    // 4 MiB of rootfs data and 512 KiB of memory data, not 288 MiB of mostly zeros.
    assert.ok(push.uploaded_bytes < 8 << 20, `sent ${push.uploaded_bytes} bytes`);

    const original = await treeDigest(fx.dir);
    // Delete locally, then pull onto a host that has never seen the template.
    await ok(["template", "delete", "web", "--force"], home);
    const empty = tempDir();
    const pull = json<{ revision: string; path: string }>(
      (await ok(["template", "pull", "web", "--registry", reg, "--json"], empty)).stdout,
    );
    assert.equal(pull.revision, fx.rev);
    const verify = json<{ ok: boolean; files: { status: string }[] }>(
      (await ok(["template", "verify", "web", "--json"], empty)).stdout,
    );
    assert.equal(verify.ok, true);
    assert.equal(verify.files.length, 8);
    const info = json<{ spec: { template_id: string; mem_mib: number }; revision: { snapshot: unknown } }>(
      (await ok(["template", "info", "web", "--json"], empty)).stdout,
    );
    assert.equal(info.spec.template_id, "web");
    assert.equal(info.spec.mem_mib, 512);
    assert.ok(info.revision.snapshot, "pulled revision keeps its snapshot");
    for (const f of ["snapshot/mem.bin", "snapshot/vmstate.bin"])
      assert.equal(statSync(join(pull.path, f)).mode & 0o777, 0o600, `${f} is private`);
    const rootfs = statSync(join(pull.path, "rootfs.ext4"));
    assert.equal(rootfs.size, 256 << 20);
    assert.ok(rootfs.blocks * 512 < 16 << 20, `rootfs allocates ${rootfs.blocks * 512} bytes`);
    // The pulled files are byte-identical to what was built.
    const pulled = await treeDigest(pull.path);
    for (const name of ["vmlinux", "initrd", "rootfs.ext4", "snapshot/mem.bin", "snapshot/vmstate.bin"])
      assert.equal(pulled[name], original[name], name);
    const remote = json<{ ok: boolean }>(
      (await ok(["template", "verify", "web", "--remote", "--registry", reg, "--json"], empty)).stdout,
    );
    assert.equal(remote.ok, true);
  });

  test("a second push of an unchanged revision uploads 0 artifact bytes", async () => {
    const home = tempDir();
    await makeRevision(home, "web", { rootfsBytes: 64 << 20 });
    const env = { MVM_TEMPLATE_REGISTRY: `file://${tempDir("mvm-reg-")}` };
    const first = json<{ uploaded_bytes: number }>(
      (await ok(["template", "push", "web", "--json"], home, env)).stdout,
    );
    assert.ok(first.uploaded_bytes > 0);
    const second = json<{ uploaded_bytes: number; files: { uploaded: boolean }[] }>(
      (await ok(["template", "push", "web", "--json"], home, env)).stdout,
    );
    assert.equal(second.uploaded_bytes, 0);
    assert.ok(second.files.every((f) => !f.uploaded));
  });

  test("a push interrupted before its index resumes without resending files stored as they are", async () => {
    const home = tempDir();
    const fx = await makeRevision(home, "web");
    const root = tempDir("mvm-reg-");
    await ok(["template", "push", "web", "--registry", `file://${root}`], home);
    // As if the first push had been killed after its objects and before checksums.json and current.
    await fs.rm(join(root, "templates/web/revisions", fx.rev, "checksums.json"));
    await fs.rm(join(root, "templates/web/current"));
    const r = await runCli(["template", "list", "--remote", "--registry", `file://${root}`, "--json"], {
      dataDir: home,
    });
    assert.deepEqual(json<{ templates: { revisions: string[] }[] }>(r.stdout).templates[0]?.revisions, []);
    const again = json<{ files: { name: string; uploaded: boolean; encoding: string }[] }>(
      (await ok(["template", "push", "web", "--registry", `file://${root}`, "--json"], home)).stdout,
    );
    for (const f of again.files) assert.equal(f.uploaded, f.encoding !== "identity", f.name);
    const target = tempDir();
    await ok(["template", "pull", "web", "--registry", `file://${root}`], target);
    await ok(["template", "verify", "web"], target);
  });

  test("a kernel unchanged since the current revision is linked inside the registry, not copied through", async () => {
    const home = tempDir();
    const root = tempDir("mvm-reg-");
    const first = await makeRevision(home, "web");
    await ok(["template", "push", "web", "--registry", `file://${root}`], home);
    const second = await makeRevision(home, "web");
    await fs.copyFile(join(first.dir, "vmlinux"), join(second.dir, "vmlinux"));
    await writeChecksums(second.dir, "web", second.rev);
    const push = json<{ files: { name: string; uploaded: boolean }[] }>(
      (await ok(["template", "push", "web", "--registry", `file://${root}`, "--json"], home)).stdout,
    );
    assert.equal(push.files.find((f) => f.name === "vmlinux")?.uploaded, false);
    const a = statSync(join(root, "templates/web/revisions", first.rev, "vmlinux"));
    const b = statSync(join(root, "templates/web/revisions", second.rev, "vmlinux"));
    assert.equal(a.ino, b.ino);
    const target = tempDir();
    await ok(["template", "pull", "web", "--registry", `file://${root}`], target);
    await ok(["template", "verify", "web"], target);
  });

  test("the default registry is <data>/registry and list --remote shows what it holds", async () => {
    const home = tempDir();
    const fx = await makeRevision(home, "api");
    await ok(["template", "push", "api"], home);
    assert.ok(existsSync(join(home, "registry", "templates", "api", "current")));
    assert.equal(readFileSync(join(home, "registry", "templates", "api", "current"), "utf8"), `${fx.rev}\n`);
    const list = json<{ templates: { name: string; current: string; revisions: string[] }[] }>(
      (await ok(["template", "list", "--remote", "--json"], home)).stdout,
    );
    assert.deepEqual(list.templates, [{ name: "api", current: fx.rev, revisions: [fx.rev] }]);
  });

  test("a tampered object fails the pull and installs nothing", async () => {
    const home = tempDir();
    const fx = await makeRevision(home, "web");
    const root = tempDir("mvm-reg-");
    await ok(["template", "push", "web", "--registry", `file://${root}`], home);
    const target = tempDir();
    const old = await makeRevision(target, "web"); // the revision the host already runs
    const before = await treeDigest(target);
    const obj = join(root, "templates/web/revisions", fx.rev, "vmlinux");
    const bytes = readFileSync(obj);
    bytes[100] = (bytes[100] ?? 0) ^ 0xff;
    await fs.writeFile(obj, bytes);
    const r = await runCli(["template", "pull", "web", "--registry", `file://${root}`], { dataDir: target });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: checksum mismatch for vmlinux/m);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    assert.deepEqual(await treeDigest(target), before);
    assert.equal(await old.store.currentRevisionId("web"), old.rev);
  });

  test("an index naming ../../x or an unknown file is refused before anything is written", async () => {
    const home = tempDir();
    const fx = await makeRevision(home, "web");
    const root = tempDir("mvm-reg-");
    await ok(["template", "push", "web", "--registry", `file://${root}`], home);
    const indexFile = join(root, "templates/web/revisions", fx.rev, "checksums.json");
    const index = json<{ files: Record<string, string>; transfer: Record<string, unknown> }>(
      readFileSync(indexFile, "utf8"),
    );
    for (const evil of ["../../x", "notes.txt", "snapshot/../../../etc/passwd"]) {
      const hostile = structuredClone(index);
      hostile.files[evil] = "0".repeat(64);
      hostile.transfer[evil] = {
        encoding: "identity",
        size: 1,
        stored_size: 1,
        stored_sha256: "0".repeat(64),
      };
      await fs.writeFile(indexFile, toJson(hostile));
      const target = tempDir();
      const r = await runCli(["template", "pull", "web", "--registry", `file://${root}`], {
        dataDir: target,
      });
      assert.equal(r.code, 1, evil);
      assert.match(r.stderr, /unexpected file name/, evil);
      assert.deepEqual(await treeDigest(target), {}, `nothing written for ${evil}`);
      assert.equal(existsSync(join(target, "..", "x")), false);
    }
  });

  test("a pull killed with SIGKILL leaves the previous revision intact, and the next pull succeeds", async () => {
    const home = tempDir();
    const root = tempDir("mvm-reg-");
    const reg = `file://${root}`;
    const first = await makeRevision(home, "web");
    await ok(["template", "push", "web", "--registry", reg], home);
    const target = tempDir();
    await ok(["template", "pull", "web", "--registry", reg], target);
    // A second, much larger revision: 192 MiB of data takes long enough to kill mid-transfer.
    const second = await makeRevision(home, "web", { rootfsBytes: 512 << 20, rootfsDataBytes: 192 << 20 });
    await ok(["template", "push", "web", "--registry", reg], home);
    const child = spawn(process.execPath, [CLI, "template", "pull", "web", "--registry", reg], {
      env: { ...process.env, MVM_DATA_DIR: target, NO_COLOR: "1" },
      stdio: "ignore",
    });
    const revisions = join(target, "templates/web/artifacts/revisions");
    const deadline = Date.now() + 60_000;
    for (;;) {
      const staging = (await fs.readdir(revisions)).find((e) => e.includes(".pull-"));
      if (staging) {
        const st = await fs.stat(join(revisions, staging, "rootfs.ext4")).catch(() => undefined);
        if (st && st.blocks * 512 > 8 << 20) break; // mid-transfer
      }
      assert.ok(Date.now() < deadline, "pull never started writing");
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill("SIGKILL");
    await new Promise((r) => child.once("close", r));
    const cur = json<{ ok: boolean; revision: string }>(
      (await ok(["template", "verify", "web", "--json"], target)).stdout,
    );
    assert.equal(cur.revision, first.rev);
    assert.equal(cur.ok, true);
    assert.equal(existsSync(join(revisions, second.rev)), false);
    const again = json<{ revision: string }>(
      (await ok(["template", "pull", "web", "--registry", reg, "--json"], target)).stdout,
    );
    assert.equal(again.revision, second.rev);
    await ok(["template", "verify", "web"], target);
    // The killed pull's staging directory was swept.
    assert.deepEqual(
      (await fs.readdir(revisions)).filter((e) => e.startsWith(".")),
      [],
    );
  });

  test("two concurrent pushes leave two complete revisions and a current that names one of them", async () => {
    const a = tempDir();
    const b = tempDir();
    const ra = await makeRevision(a, "web", { rootfsDataBytes: 8 << 20 });
    const rb = await makeRevision(b, "web", { rootfsDataBytes: 8 << 20 });
    const reg = `file://${tempDir("mvm-reg-")}`;
    await Promise.all([
      ok(["template", "push", "web", "--registry", reg], a),
      ok(["template", "push", "web", "--registry", reg], b),
    ]);
    const list = json<{ templates: { current: string; revisions: string[] }[] }>(
      (await ok(["template", "list", "--remote", "--registry", reg, "--json"], a)).stdout,
    );
    assert.deepEqual(list.templates[0]?.revisions, [ra.rev, rb.rev].sort());
    assert.ok([ra.rev, rb.rev].includes(list.templates[0]!.current));
    for (const rev of [ra.rev, rb.rev]) {
      const target = tempDir();
      await ok(["template", "pull", "web", "--revision", rev, "--registry", reg], target);
      await ok(["template", "verify", "web"], target);
    }
  });

  test("--no-snapshot pushes no snapshot files and a revision.json without snapshot", async () => {
    const home = tempDir();
    await makeRevision(home, "web", { snapshot: true });
    const reg = `file://${tempDir("mvm-reg-")}`;
    const push = json<{ snapshot: boolean; files: { name: string }[] }>(
      (await ok(["template", "push", "web", "--no-snapshot", "--registry", reg, "--json"], home)).stdout,
    );
    assert.equal(push.snapshot, false);
    assert.ok(push.files.every((f) => !f.name.startsWith("snapshot/")));
    const target = tempDir();
    await ok(["template", "pull", "web", "--registry", reg], target);
    await ok(["template", "verify", "web"], target);
    const remote = json<{ ok: boolean; files: { name: string; status: string }[] }>(
      (await ok(["template", "verify", "web", "--remote", "--registry", reg, "--json"], home)).stdout,
    );
    assert.equal(remote.ok, true);
    assert.equal(remote.files.find((f) => f.name === "snapshot/mem.bin")?.status, "NOT_IN_REGISTRY");
    assert.equal(remote.files.find((f) => f.name === "revision.json")?.status, "OK");
    assert.equal(remote.files.find((f) => f.name === "template.json")?.status, "OK");
    const info = json<{ revision: { snapshot: unknown } }>(
      (await ok(["template", "info", "web", "--json"], target)).stdout,
    );
    assert.equal(info.revision.snapshot, null);
  });

  test("verify reports MISMATCH and MISSING per file and exits 1", async () => {
    const home = tempDir();
    const fx = await makeRevision(home, "web");
    await fs.appendFile(join(fx.dir, "vmlinux"), "x");
    await fs.rm(join(fx.dir, "initrd"));
    const r = await runCli(["template", "verify", "web", "--json"], { dataDir: home });
    assert.equal(r.code, 1);
    const out = json<{ ok: boolean; files: { name: string; status: string }[] }>(r.stdout);
    assert.equal(out.ok, false);
    const status = Object.fromEntries(out.files.map((f) => [f.name, f.status]));
    assert.equal(status.vmlinux, "MISMATCH");
    assert.equal(status.initrd, "MISSING");
    assert.equal(status["rootfs.ext4"], "OK");
    assert.match(r.stderr, /^error: revision .* failed verification: 2 of \d+ files$/m);
    // A local file that no longer matches is not pushed either.
    const push = await runCli(["template", "push", "web", "--registry", `file://${tempDir()}`], {
      dataDir: home,
    });
    assert.equal(push.code, 1);
  });

  test("registry configuration: http:// needs the insecure opt-in; the original's variables are checked", async () => {
    const home = tempDir();
    await makeRevision(home, "web");
    const legacy = {
      MVM_TEMPLATE_REGISTRY_ENDPOINT: "http://127.0.0.1:9",
      MVM_TEMPLATE_REGISTRY_BUCKET: "b",
    };
    let r = await runCli(["template", "push", "web"], { dataDir: home, env: legacy });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /MVM_TEMPLATE_REGISTRY_ACCESS_KEY_ID must be set/);
    r = await runCli(["template", "push", "web"], {
      dataDir: home,
      env: {
        ...legacy,
        MVM_TEMPLATE_REGISTRY_ACCESS_KEY_ID: "k",
        MVM_TEMPLATE_REGISTRY_SECRET_ACCESS_KEY: "s3cr3t-value",
      },
    });
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /^error: Template registry endpoint is http:\/\/ but MVM_TEMPLATE_REGISTRY_INSECURE is not true$/m,
    );
    assert.doesNotMatch(r.stderr + r.stdout, /s3cr3t-value/);
    r = await runCli(["template", "pull", "web", "--registry", "ftp://x/y"], { dataDir: home });
    assert.equal(r.code, 2);
    r = await runCli(["template", "pull", "web", "--revision", "../etc"], { dataDir: home });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: invalid revision/m);
  });
  test("list --remote of a file registry that does not exist is an error, an empty one lists nothing", async () => {
    const home = tempDir();
    const gone = join(tempDir("mvm-reg-"), "nonexistent");
    const r = await runCli(["template", "list", "--remote", "--registry", `file://${gone}`], {
      dataDir: home,
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^error: registry file://${gone} does not exist`, "m"));
    assert.doesNotMatch(r.stdout, /\(none\)/);
    const empty = tempDir("mvm-reg-");
    const e = await ok(["template", "list", "--remote", "--registry", `file://${empty}`, "--json"], home);
    assert.deepEqual(json(e.stdout).templates, []);
  });
});
