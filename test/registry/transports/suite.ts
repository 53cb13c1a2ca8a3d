import assert from "node:assert/strict";
import { copyFileSync, existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { writeChecksums } from "../../../src/store/checksums.js";
import { runCli, tempDir } from "../../helpers/cli.js";
import { makeRevision, treeDigest } from "../../helpers/registry/fixtures.js";
import { type FaultyProxy, startFaultyProxy } from "../../helpers/registry/proxy.js";

// Behaviour every networked registry must show, run against each real server (s3.test.ts, oci.test.ts).

export interface ServerUnderTest {
  /** Registry URL, optionally through another port (the faulty proxy). */
  url(port?: number): string;
  port: number;
  env: Record<string, string>;
  /** Extra environment that routes traffic through another port (S3 takes its endpoint from there). */
  viaEnv?(port: number): Record<string, string>;
  /** Environment with credentials that the server refuses. */
  badEnv: Record<string, string>;
  /** Flips a byte of a stored object behind the registry's back. */
  tamper(template: string, rev: string, name: string, storedSha256: string): Promise<void>;
  /** Extra checks after the round trip (manifest shape…), given the HTTP requests of the first push. */
  afterRoundTrip?(template: string, rev: string, pushRequests: string[]): Promise<void>;
  stop(): Promise<void>;
}

interface PushJson {
  uploaded_bytes: number;
  files: { name: string; uploaded: boolean; stored_sha256: string; stored_size: number }[];
}

function json<T>(text: string): T {
  return JSON.parse(text) as T;
}

export function registrySuite(kind: string, start: () => Promise<ServerUnderTest>): void {
  describe(`${kind} registry`, () => {
    let srv: ServerUnderTest;
    before(async () => {
      srv = await start();
    });
    after(async () => {
      await srv?.stop();
    });

    const cli = async (args: string[], dataDir: string, extra: Record<string, string> = {}) => {
      const r = await runCli(args, { dataDir, env: { ...srv.env, ...extra }, timeoutMs: 180_000 });
      assert.equal(r.code, 0, `mvmctl ${args.join(" ")} failed: ${r.stderr}`);
      return r;
    };

    test("round trip onto an empty data dir with snapshot; a second push sends nothing", async () => {
      const home = tempDir();
      // 24 MiB of rootfs data: stored as more than one multipart part / upload chunk.
      const fx = await makeRevision(home, "web", {
        snapshot: true,
        rootfsBytes: 512 << 20,
        rootfsDataBytes: 24 << 20,
      });
      const original = await treeDigest(fx.dir);
      // The first push goes through a pass-through proxy that records the requests.
      const recorder = await startFaultyProxy(srv.port, 0, 0);
      const push = json<PushJson>(
        (
          await cli(
            ["template", "push", "web", "--registry", srv.url(recorder.port), "--json"],
            home,
            srv.viaEnv?.(recorder.port) ?? {},
          )
        ).stdout,
      );
      await recorder.close();
      assert.ok(push.files.every((f) => f.uploaded));
      assert.ok(push.uploaded_bytes < 30 << 20, `sent ${push.uploaded_bytes}`);
      const again = json<PushJson>(
        (await cli(["template", "push", "web", "--registry", srv.url(), "--json"], home)).stdout,
      );
      assert.equal(again.uploaded_bytes, 0);

      await cli(["template", "delete", "web", "--force"], home);
      const empty = tempDir();
      const pull = json<{ revision: string; path: string }>(
        (await cli(["template", "pull", "web", "--registry", srv.url(), "--json"], empty)).stdout,
      );
      assert.equal(pull.revision, fx.rev);
      const pulled = await treeDigest(pull.path);
      for (const name of ["vmlinux", "initrd", "rootfs.ext4", "snapshot/mem.bin", "snapshot/vmstate.bin"])
        assert.equal(pulled[name], original[name], name);
      assert.ok(statSync(join(pull.path, "rootfs.ext4")).blocks * 512 < 40 << 20, "rootfs is sparse again");
      await cli(["template", "verify", "web"], empty);
      const remote = json<{ ok: boolean }>(
        (await cli(["template", "verify", "web", "--remote", "--registry", srv.url(), "--json"], empty))
          .stdout,
      );
      assert.equal(remote.ok, true);
      const info = json<{ spec: { template_id: string }; revision: { snapshot: unknown } }>(
        (await cli(["template", "info", "web", "--json"], empty)).stdout,
      );
      assert.equal(info.spec.template_id, "web");
      assert.ok(info.revision.snapshot);
      const list = json<{ templates: { name: string; current: string; revisions: string[] }[] }>(
        (await cli(["template", "list", "--remote", "--registry", srv.url(), "--json"], empty)).stdout,
      );
      assert.deepEqual(
        list.templates.find((t) => t.name === "web"),
        { name: "web", current: fx.rev, revisions: [fx.rev] },
      );
      await srv.afterRoundTrip?.("web", fx.rev, recorder.requests);
    });

    test("wrong credentials give a one-line error and change nothing", async () => {
      const home = tempDir();
      await makeRevision(home, "creds");
      const r = await runCli(["template", "push", "creds", "--registry", srv.url()], {
        dataDir: home,
        env: { ...srv.env, ...srv.badEnv, MVM_REGISTRY_RETRIES: "0" },
      });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^error: /m);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
      for (const secret of Object.values(srv.env).filter((v) => v.length > 8 && !v.includes("/")))
        assert.ok(!r.stderr.includes(secret), "no secret in the output");
      const list = await cli(["template", "list", "--remote", "--registry", srv.url(), "--json"], home);
      assert.ok(
        !json<{ templates: { name: string }[] }>(list.stdout).templates.some((t) => t.name === "creds"),
      );
    });

    test("a tampered object fails the pull and installs nothing", async () => {
      const home = tempDir();
      const fx = await makeRevision(home, "tamper");
      const push = json<PushJson>(
        (await cli(["template", "push", "tamper", "--registry", srv.url(), "--json"], home)).stdout,
      );
      const kernel = push.files.find((f) => f.name === "vmlinux")!;
      await srv.tamper("tamper", fx.rev, "vmlinux", kernel.stored_sha256);
      const target = tempDir();
      const r = await runCli(["template", "pull", "tamper", "--registry", srv.url()], {
        dataDir: target,
        env: srv.env,
      });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^error: checksum mismatch for vmlinux/m);
      assert.equal(existsSync(join(target, "templates", "tamper", "template.json")), false);
      assert.equal(existsSync(join(target, "templates", "tamper", "current")), false);
      assert.deepEqual(
        Object.keys(await treeDigest(target)).filter((k) => !k.startsWith("locks/")),
        [],
      );
    });

    test("a server failing mid-transfer: a clean error without retries, success with them", async () => {
      const home = tempDir();
      await makeRevision(home, "flaky", { rootfsDataBytes: 12 << 20 });
      let proxy: FaultyProxy | undefined;
      try {
        proxy = await startFaultyProxy(srv.port, 2 << 20, 1);
        const via = srv.url(proxy.port);
        const viaEnv = srv.viaEnv?.(proxy.port) ?? {};
        const failed = await runCli(["template", "push", "flaky", "--registry", via], {
          dataDir: home,
          env: { ...srv.env, ...viaEnv, MVM_REGISTRY_RETRIES: "0" },
          timeoutMs: 120_000,
        });
        assert.equal(failed.code, 1, failed.stderr);
        assert.match(failed.stderr, /^error: .*(upload|flaky|socket|closed|reset|terminated)/im);
        assert.doesNotMatch(failed.stderr, /\n\s+at /);
        assert.equal(proxy.cuts(), 1);
        // Nothing became current remotely.
        const none = await cli(["template", "list", "--remote", "--registry", srv.url(), "--json"], home);
        assert.ok(
          !json<{ templates: { name: string; current: string | null }[] }>(none.stdout).templates.some(
            (t) => t.name === "flaky" && t.current,
          ),
        );

        // The network keeps failing once per command; the built-in retries carry both transfers through.
        proxy.setFaults(1);
        await cli(["template", "push", "flaky", "--registry", via], home, viaEnv);
        assert.equal(proxy.cuts(), 2);
        proxy.setFaults(1);
        const target = tempDir();
        await cli(["template", "pull", "flaky", "--registry", via], target, viaEnv);
        assert.equal(proxy.cuts(), 3);
        await cli(["template", "verify", "flaky"], target);
      } finally {
        await proxy?.close();
      }
    });

    test("a kernel unchanged since the current revision is not sent again, and the new revision pulls intact", async () => {
      const home = tempDir();
      const first = await makeRevision(home, "share");
      await cli(["template", "push", "share", "--registry", srv.url()], home);
      const second = await makeRevision(home, "share");
      copyFileSync(join(first.dir, "vmlinux"), join(second.dir, "vmlinux"));
      await writeChecksums(second.dir, "share", second.rev);
      const push = json<PushJson>(
        (await cli(["template", "push", "share", "--registry", srv.url(), "--json"], home)).stdout,
      );
      assert.equal(push.files.find((f) => f.name === "vmlinux")?.uploaded, false);
      assert.equal(push.files.find((f) => f.name === "initrd")?.uploaded, true);
      const target = tempDir();
      await cli(["template", "pull", "share", "--registry", srv.url()], target);
      await cli(["template", "verify", "share"], target);
      // The first revision is still complete too.
      const other = tempDir();
      await cli(["template", "pull", "share", "--revision", first.rev, "--registry", srv.url()], other);
      await cli(["template", "verify", "share"], other);
    });

    test("two concurrent pushes leave two complete revisions and a current that names one of them", async () => {
      const a = tempDir();
      const b = tempDir();
      const ra = await makeRevision(a, "race", { rootfsDataBytes: 4 << 20 });
      const rb = await makeRevision(b, "race", { rootfsDataBytes: 4 << 20 });
      await Promise.all([
        cli(["template", "push", "race", "--registry", srv.url()], a),
        cli(["template", "push", "race", "--registry", srv.url()], b),
      ]);
      const list = json<{ templates: { name: string; current: string; revisions: string[] }[] }>(
        (await cli(["template", "list", "--remote", "--registry", srv.url(), "--json"], a)).stdout,
      );
      const race = list.templates.find((t) => t.name === "race")!;
      assert.deepEqual(race.revisions, [ra.rev, rb.rev].sort());
      assert.ok([ra.rev, rb.rev].includes(race.current));
      for (const rev of [ra.rev, rb.rev]) {
        const target = tempDir();
        await cli(["template", "pull", "race", "--revision", rev, "--registry", srv.url()], target);
        await cli(["template", "verify", "race"], target);
      }
    });
  });
}
