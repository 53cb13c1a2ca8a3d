import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { MvmError } from "../../src/core/errors.js";
import { parseRegistryUrl } from "../../src/registry/location.js";
import { openTransport } from "../../src/registry/open.js";
import type { RegistryTransport } from "../../src/registry/transports/transport.js";
import { errorLines } from "../helpers/scratch.js";
import { runCli, tempDir } from "../helpers/cli.js";
import { makeRevision } from "../helpers/registry/fixtures.js";
import { type OciServer, type S3Server, startOci, startS3 } from "../helpers/registry/servers.js";

// Push and pull carry tags: a registry tag on OCI, a small object on file:// and S3, moved only if it
// still is what the push read at its start. Two pushes racing on one tag: one winner, one clear error,
// and the tag never names a revision the registry does not fully hold. Real docker-registry and s3rver.

const TAG_LOST =
  /^error: tag web:stable (was moved to revision [0-9a-z]{12} by another push while this one ran|is being moved by another push right now)$/;

interface Kind {
  name: "file" | "oci" | "s3";
  url: string;
  env: Record<string, string>;
}

function open(kind: Kind): Promise<RegistryTransport> {
  // Credentials are read from the environment, as the CLI reads them.
  Object.assign(process.env, kind.env);
  return openTransport(parseRegistryUrl(kind.url, process.env));
}

describe("registry tags", () => {
  let oci: OciServer;
  let s3: S3Server;
  const kinds: Kind[] = [];

  before(async () => {
    [oci, s3] = await Promise.all([startOci(), startS3()]);
    kinds.push(
      { name: "file", url: `file://${tempDir("mvm-tagreg-")}`, env: {} },
      { name: "oci", url: oci.url("mvm"), env: oci.env },
      { name: "s3", url: s3.url("tags"), env: s3.env },
    );
  });
  after(async () => {
    await Promise.all([oci?.stop(), s3?.stop()]);
  });

  for (const name of ["file", "oci", "s3"] as const) {
    test(`${name}: push --tag carries the tag; pull --tag installs that revision and the tag`, async () => {
      const kind = kinds.find((k) => k.name === name)!;
      const data = tempDir("mvm-tagsrc-");
      const one = await makeRevision(data, "web", { rootfsBytes: 4 << 20 });
      const two = await makeRevision(data, "web", { rootfsBytes: 4 << 20 });
      const cli = (args: string[], dataDir: string) =>
        runCli(args, { dataDir, env: kind.env, timeoutMs: 120_000 });
      // A local tag naming the pushed revision travels with it.
      assert.equal((await cli(["template", "tag", "web", one.rev, "v1"], data)).code, 0);
      const p1 = await cli(
        ["template", "push", "web", "--revision", one.rev, "--registry", kind.url, "--json"],
        data,
      );
      assert.equal(p1.code, 0, p1.stderr);
      assert.deepEqual(
        JSON.parse(p1.stdout).tags.map((t: { tag: string }) => t.tag),
        ["v1"],
      );
      const p2 = await cli(["template", "push", "web", "--registry", kind.url, "--tag", "stable"], data);
      assert.equal(p2.code, 0, p2.stderr);
      assert.match(p2.stdout, /^Tag: web:stable$/m);
      if (name === "s3")
        assert.match(p2.stderr, /ignores conditional writes/, "s3rver's ignored If-None-Match is reported");
      else assert.doesNotMatch(p2.stderr, /ignores conditional writes/);

      const t = await open(kind);
      try {
        assert.equal((await t.getTag("web", "v1"))?.rev, one.rev);
        assert.equal((await t.getTag("web", "stable"))?.rev, two.rev);
      } finally {
        await t.close();
      }
      const empty = tempDir("mvm-tagdst-");
      const pulled = await cli(
        ["template", "pull", "web", "--registry", kind.url, "--tag", "v1", "--json"],
        empty,
      );
      assert.equal(pulled.code, 0, pulled.stderr);
      const out = JSON.parse(pulled.stdout);
      assert.equal(out.revision, one.rev);
      assert.equal(out.tag, "v1");
      const tags = await cli(["template", "tags", "web", "--json"], empty);
      const refs = JSON.parse(tags.stdout);
      assert.deepEqual(refs.tags, { v1: one.rev });
      if (name === "oci") {
        assert.match(out.digest, /^sha256:[0-9a-f]{64}$/);
        assert.deepEqual(refs.digests, { [out.digest]: one.rev });
      }
      const missing = await cli(["template", "pull", "web", "--registry", kind.url, "--tag", "nope"], empty);
      assert.equal(missing.code, 1);
      assert.match(errorLines(missing.stderr)[0] ?? "", /has no tag web:nope$/);
    });

    test(`${name}: a tag moved since it was read is not overwritten`, async () => {
      const kind = kinds.find((k) => k.name === name)!;
      const data = tempDir("mvm-tagcas-");
      const a = await makeRevision(data, "cas", { rootfsBytes: 1 << 20 });
      const b = await makeRevision(data, "cas", { rootfsBytes: 1 << 20 });
      for (const r of [a, b]) {
        const p = await runCli(["template", "push", "cas", "--revision", r.rev, "--registry", kind.url], {
          dataDir: data,
          env: kind.env,
        });
        assert.equal(p.code, 0, p.stderr);
      }
      const t = await open(kind);
      try {
        const seen = await t.getTag("cas", "edge"); // absent
        await t.putTag("cas", "edge", a.rev, seen); // another push moves it first
        await assert.rejects(t.putTag("cas", "edge", b.rev, seen), (e: unknown) => {
          assert.ok(e instanceof MvmError);
          assert.equal(
            e.message,
            `tag cas:edge was moved to revision ${a.rev.slice(0, 12)} by another push while this one ran`,
          );
          return true;
        });
        assert.equal((await t.getTag("cas", "edge"))?.rev, a.rev);
        const now = await t.getTag("cas", "edge");
        const guard = await t.putTag("cas", "edge", b.rev, now);
        assert.equal(guard, name === "oci" || name === "s3" ? "checked" : "conditional");
        assert.equal((await t.getTag("cas", "edge"))?.rev, b.rev);
      } finally {
        await t.close();
      }
    });
  }

  for (const name of ["file", "oci"] as const) {
    test(`${name}: two pushes of two revisions racing on one tag: one winner, a clear error for the other`, async () => {
      const kind = kinds.find((k) => k.name === name)!;
      const data = tempDir("mvm-tagrace-");
      // Enough random data that each push takes a while, so both read the tag before either moves it.
      const one = await makeRevision(data, "web", { rootfsBytes: 64 << 20, rootfsDataBytes: 24 << 20 });
      const two = await makeRevision(data, "web", { rootfsBytes: 64 << 20, rootfsDataBytes: 24 << 20 });
      const push = (rev: string) =>
        runCli(["template", "push", "web", "--revision", rev, "--registry", kind.url, "--tag", "stable"], {
          dataDir: data,
          env: kind.env,
          timeoutMs: 300_000,
        });
      const results = await Promise.all([push(one.rev), push(two.rev)]);
      const winners = results.filter((r) => r.code === 0);
      const losers = results.filter((r) => r.code !== 0);
      assert.equal(winners.length, 1, results.map((r) => r.stderr).join("\n---\n"));
      assert.equal(losers[0]!.code, 1);
      assert.match(errorLines(losers[0]!.stderr)[0] ?? "", TAG_LOST);
      const winnerRev = results[0]!.code === 0 ? one.rev : two.rev;
      const t = await open(kind);
      try {
        assert.equal((await t.getTag("web", "stable"))?.rev, winnerRev);
        // The revision the tag names is complete: its index is there.
        assert.ok(await t.getIndex("web", winnerRev));
      } finally {
        await t.close();
      }
      const empty = tempDir("mvm-tagrace-pull-");
      const pulled = await runCli(["template", "pull", "web", "--registry", kind.url, "--tag", "stable"], {
        dataDir: empty,
        env: kind.env,
        timeoutMs: 300_000,
      });
      assert.equal(pulled.code, 0, pulled.stderr);
      const verify = await runCli(["template", "verify", "web"], { dataDir: empty });
      assert.equal(verify.code, 0, verify.stderr);
    });
  }

  test("file: a lock left by a push that is still moving the tag is reported, not broken", async () => {
    const kind = kinds.find((k) => k.name === "file")!;
    const data = tempDir("mvm-taglock-");
    await makeRevision(data, "locked", { rootfsBytes: 1 << 20 });
    const root = kind.url.slice("file://".length);
    const first = await runCli(["template", "push", "locked", "--registry", kind.url], { dataDir: data });
    assert.equal(first.code, 0, first.stderr);
    const lock = join(root, "templates", "locked", "tags", ".stable.lock");
    mkdirSync(dirname(lock), { recursive: true });
    writeFileSync(lock, "");
    const r = await runCli(["template", "push", "locked", "--registry", kind.url, "--tag", "stable"], {
      dataDir: data,
    });
    assert.equal(r.code, 1);
    assert.deepEqual(errorLines(r.stderr), [
      "error: tag locked:stable is being moved by another push right now",
    ]);
    assert.match(r.stderr, new RegExp(`remove ${lock.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
    assert.equal(readFileSync(lock, "utf8"), "", "the lock is left for its owner");
  });
});
