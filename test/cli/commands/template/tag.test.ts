import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { writeFakeFlake } from "../../../helpers/fake-flake.js";
import { cliFor, errorLines, nonce, revisionDir, scratch } from "../../../helpers/scratch.js";

// Tags name revisions: set, move, list, remove; prune keeps what a tag names; `up` resolves NAME:TAG
// and NAME@sha256:… before touching a hypervisor. Real nix, offline, with busybox-built flakes.

describe("template tag / tags / untag", () => {
  const root = scratch("mvm-tags-");
  const data = join(root, "data");
  const flake = join(root, "flake");
  const cli = cliFor(data);
  const n = nonce();
  let rev1 = "";
  let rev2 = "";

  const build = async (salt: string): Promise<string> => {
    writeFakeFlake(flake, { nonce: n, packages: { default: { salt } } });
    const r = await cli(["template", "build", "web", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout).revision_hash;
  };

  before(async () => {
    writeFakeFlake(flake, { nonce: n, packages: { default: { salt: "one" } } });
    const r = await cli(["template", "create", "web", "--flake", flake, "--mem", "256"]);
    assert.equal(r.code, 0, r.stderr);
    rev1 = await build("one");
    rev2 = await build("two");
    assert.notEqual(rev1, rev2);
  });

  test("tag current, tag by revision prefix, move a tag, list them", async () => {
    const a = await cli(["template", "tag", "web", "current", "stable", "--json"]);
    assert.equal(a.code, 0, a.stderr);
    assert.deepEqual(JSON.parse(a.stdout), {
      template: "web",
      tag: "stable",
      revision: rev2,
      previous: null,
    });
    const b = await cli(["template", "tag", "web", rev1.slice(0, 10), "v1"]);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stderr + b.stdout, new RegExp(`Tagged web:v1 -> ${rev1.slice(0, 12)}`));
    const moved = await cli(["template", "tag", "web", rev1, "stable"]);
    assert.equal(moved.code, 0, moved.stderr);
    assert.match(
      moved.stderr + moved.stdout,
      new RegExp(`Moved web:stable from ${rev2.slice(0, 12)} to ${rev1.slice(0, 12)}`),
    );
    const list = await cli(["template", "tags", "web", "--json"]);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(JSON.parse(list.stdout), {
      template: "web",
      current: rev2,
      tags: { stable: rev1, v1: rev1 },
      digests: {},
    });
  });

  test("bad tags and unknown revisions are refused with a clear error", async () => {
    const cur = await cli(["template", "tag", "web", "current", "current"]);
    assert.equal(cur.code, 2);
    assert.deepEqual(errorLines(cur.stderr), [
      "error: invalid tag \"current\": 'current' always names the current revision",
    ]);
    const hashy = await cli(["template", "tag", "web", "current", rev1]);
    assert.equal(hashy.code, 2);
    assert.match(errorLines(hashy.stderr)[0] ?? "", /looks like a revision hash/);
    const odd = await cli(["template", "tag", "web", "current", "-x"]);
    assert.notEqual(odd.code, 0);
    const none = await cli(["template", "tag", "web", "zzzzzzzz", "x"]);
    assert.equal(none.code, 1);
    assert.deepEqual(errorLines(none.stderr), ["error: template web has no revision zzzzzzzz"]);
    const ghost = await cli(["template", "tag", "ghost", "current", "x"]);
    assert.equal(ghost.code, 1);
    assert.deepEqual(errorLines(ghost.stderr), ["error: template ghost does not exist"]);
  });

  test("prune keeps a tagged revision; untag removes only the tag", async () => {
    const pruned = await cli(["template", "prune", "web", "--keep", "0", "--json"]);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.ok(existsSync(revisionDir(data, "web", rev1)), "the tagged revision stays");
    assert.match(pruned.stdout, /"tagged"/);
    const un = await cli(["template", "untag", "web", "v1", "--json"]);
    assert.equal(un.code, 0, un.stderr);
    assert.deepEqual(JSON.parse(un.stdout), { template: "web", tag: "v1", revision: rev1 });
    const again = await cli(["template", "untag", "web", "v1"]);
    assert.equal(again.code, 1);
    assert.deepEqual(errorLines(again.stderr), ["error: template web has no tag v1"]);
    assert.ok(existsSync(revisionDir(data, "web", rev1)));
  });

  test("up resolves NAME:TAG and NAME@digest before starting anything", async () => {
    const tag = await cli(["up", "web:nope"]);
    assert.equal(tag.code, 1);
    assert.deepEqual(errorLines(tag.stderr), ["error: template web has no tag nope"]);
    const digest = `sha256:${"ab".repeat(32)}`;
    const d = await cli(["up", `web@${digest}`]);
    assert.equal(d.code, 1);
    assert.deepEqual(errorLines(d.stderr), [`error: template web has no revision known as ${digest} here`]);
    const bad = await cli(["up", "web@sha256:12"]);
    assert.equal(bad.code, 2);
    assert.match(errorLines(bad.stderr)[0] ?? "", /a digest is sha256: and 64 hex digits/);
  });
});
