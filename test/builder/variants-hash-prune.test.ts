import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { writeFakeFlake } from "../helpers/fake-flake.js";
import { cliFor, errorLines, nonce, revisionDir, scratch } from "../helpers/scratch.js";

// --config with variants, --update-hash on fixed-output derivations, and prune.

describe("template build --config", () => {
  test("builds every variant (default profile `default`) and reports each", async () => {
    const root = scratch("mvm-build-cfg-");
    const data = join(root, "data");
    const cli = cliFor(data);
    writeFakeFlake(join(root, "app"), {
      nonce: nonce(),
      packages: { default: { salt: "d" }, gateway: { salt: "g" } },
    });
    const cfg = join(root, "app", "variants.toml");
    writeFileSync(
      cfg,
      `template_id = "shop"
flake_ref = "."

[[variants]]
role = "worker"
vcpus = 1
mem_mib = 256

[[variants]]
name = "shop-edge"
role = "gateway"
profile = "gateway"
vcpus = 2
mem_mib = 512
`,
    );
    const r = await cli(["template", "build", "ignored", "--config", cfg, "--json"], { cwd: root });
    assert.equal(r.code, 0, r.stderr);
    const results = JSON.parse(r.stdout) as Array<{
      template: string;
      ok: boolean;
      result: { attribute: string; revision: { mem_mib: number; flake_ref: string } };
    }>;
    assert.deepEqual(
      results.map((v) => [v.template, v.ok, v.result.attribute]),
      [
        ["shop-worker", true, "packages.x86_64-linux.default"],
        ["shop-edge", true, "packages.x86_64-linux.gateway"],
      ],
    );
    // flake_ref "." is the config file's directory, not the working directory.
    assert.equal(results[0]!.result.revision.flake_ref, join(root, "app"));
    assert.equal(results[1]!.result.revision.mem_mib, 512);
    for (const t of ["shop-worker", "shop-edge"])
      assert.ok(existsSync(join(data, "templates", t, "current", "revision.json")), t);
  });

  test("a failing variant is reported; the others are still built; exit 1", async () => {
    const root = scratch("mvm-build-cfg2-");
    const data = join(root, "data");
    const cli = cliFor(data);
    writeFakeFlake(join(root, "app"), { nonce: nonce(), packages: { default: {}, bad: { fail: 2 } } });
    const cfg = join(root, "app", "v.toml");
    writeFileSync(
      cfg,
      `flake_ref = "."
[[variants]]
role = "bad"
profile = "bad"
vcpus = 1
mem_mib = 256
[[variants]]
role = "good"
vcpus = 1
mem_mib = 256
`,
    );
    const r = await cli(["template", "build", "base", "--config", cfg]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error: variant base-bad: .*failed with exit code 2/);
    assert.match(r.stderr, /Template 'base-good' built successfully/);
    assert.match(errorLines(r.stderr).at(-1)!, /1 of 2 variants failed: base-bad/);
  });

  test("an invalid config is refused before anything is built", async () => {
    const root = scratch("mvm-build-cfg3-");
    const cli = cliFor(join(root, "data"));
    const cfg = join(root, "bad.toml");
    writeFileSync(cfg, `flake_ref = "."\n[[variants]]\nrole = "x"\nvcpus = 99\nmem_mib = 256\n`);
    const r = await cli(["template", "build", "base", "--config", cfg]);
    assert.equal(r.code, 1);
    assert.match(errorLines(r.stderr)[0]!, /bad\.toml is corrupt: field variants\[0\]\.vcpus/);
    assert.ok(!existsSync(join(root, "data", "templates", "base-x")));
  });
});

describe("template build --update-hash", () => {
  test("recomputes each fixed-output hash on its own and leaves unrelated ones alone", async () => {
    const root = scratch("mvm-build-fod-");
    const data = join(root, "data");
    const cli = cliFor(data);
    const flake = join(root, "flake");
    const n = nonce();
    // `used` is stale (a hash of other content); `other` belongs to a package this template does not build.
    const stale = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    const otherHash = "sha256-AAAABBBBCCCCDDDDEEEEFFFFGGGGHHHHIIIIJJJJKKK=";
    writeFakeFlake(flake, {
      nonce: n,
      fods: { used: { content: `payload ${n}`, hash: stale }, other: { content: "x", hash: otherHash } },
      packages: { default: { fod: "used" }, unrelated: { fod: "other" } },
    });
    assert.equal((await cli(["template", "create", "fod", "--flake", flake])).code, 0);
    const plain = await cli(["template", "build", "fod"]);
    assert.equal(plain.code, 1);
    assert.match(plain.stderr, /hash mismatch in fixed-output derivation/);

    const r = await cli(["template", "build", "fod", "--update-hash", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const text = readFileSync(join(flake, "flake.nix"), "utf8");
    const hashes = [...text.matchAll(/outputHash = "([^"]*)"/g)].map((m) => m[1]);
    assert.equal(hashes.length, 2);
    assert.notEqual(hashes[0], stale);
    assert.match(hashes[0]!, /^sha256-[A-Za-z0-9+/]{43}=$/);
    assert.equal(hashes[1], otherHash, "the other derivation's hash is untouched");
    assert.match(r.stderr, /Updated outputHash on line \d+: sha256-47DEQ.* → sha256-/);
    const out = JSON.parse(r.stdout);
    assert.equal(readFileSync(join(out.dir, "initrd"), "utf8"), `payload ${n}`);
    // Up to date now: a second run changes nothing.
    const again = await cli(["template", "build", "fod", "--update-hash"]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(readFileSync(join(flake, "flake.nix"), "utf8"), text);
    assert.match(again.stderr, /unchanged/);
  });

  test("a hash that cannot be recomputed leaves flake.nix exactly as it was", async () => {
    const root = scratch("mvm-build-fod2-");
    const cli = cliFor(join(root, "data"));
    const flake = join(root, "flake");
    writeFakeFlake(flake, {
      nonce: nonce(),
      fods: {
        used: { content: "p", hash: "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", fail: true },
      },
      packages: { default: { fod: "used" } },
    });
    const before = readFileSync(join(flake, "flake.nix"), "utf8");
    assert.equal((await cli(["template", "create", "fod2", "--flake", flake])).code, 0);
    const r = await cli(["template", "build", "fod2", "--update-hash"]);
    assert.equal(r.code, 1);
    assert.match(errorLines(r.stderr)[0]!, /could not recompute the hash on line \d+ of .*flake\.nix/);
    assert.equal(readFileSync(join(flake, "flake.nix"), "utf8"), before);
  });

  test("the recomputed hash is kept when the package itself then fails", async () => {
    const root = scratch("mvm-build-fod3-");
    const cli = cliFor(join(root, "data"));
    const flake = join(root, "flake");
    writeFakeFlake(flake, {
      nonce: nonce(),
      fods: { used: { content: "q", hash: "" } },
      packages: { default: { fod: "used", fail: 4 } },
    });
    assert.equal((await cli(["template", "create", "fod3", "--flake", flake])).code, 0);
    const r = await cli(["template", "build", "fod3", "--update-hash"]);
    assert.equal(r.code, 1);
    assert.match(errorLines(r.stderr)[0]!, /failed with exit code 4/);
    assert.match(readFileSync(join(flake, "flake.nix"), "utf8"), /outputHash = "sha256-[A-Za-z0-9+/]{43}="/);
  });

  test("a flake without literal hashes is refused", async () => {
    const root = scratch("mvm-build-fod4-");
    const cli = cliFor(join(root, "data"));
    const flake = join(root, "flake");
    writeFakeFlake(flake, { nonce: nonce(), packages: { default: {} } });
    assert.equal((await cli(["template", "create", "fod4", "--flake", flake])).code, 0);
    const none = await cli(["template", "build", "fod4", "--update-hash"]);
    assert.equal(none.code, 1);
    assert.match(errorLines(none.stderr)[0]!, /has no literal fixed-output hash/);
  });
});

describe("template prune", () => {
  test("removes old revisions, never the current one or one a VM uses; reports bytes freed", async () => {
    const root = scratch("mvm-prune-");
    const data = join(root, "data");
    const cli = cliFor(data);
    const flake = join(root, "flake");
    const n = nonce();
    assert.equal((await cli(["template", "create", "p", "--flake", flake])).code, 0);
    const revs: string[] = [];
    for (const salt of ["a", "b", "c", "d"]) {
      writeFakeFlake(flake, { nonce: n, packages: { default: { salt, rootfsKiB: 512 } } });
      const r = await cli(["template", "build", "p", "--json"]);
      assert.equal(r.code, 0, r.stderr);
      revs.push(JSON.parse(r.stdout).revision_hash);
    }
    // A copied (not hard-linked) file in an old revision frees its bytes when removed.
    writeFileSync(join(revisionDir(data, "p", revs[0]!), "rootfs.ext4.extra"), Buffer.alloc(64 * 1024, 1));
    // A VM runs revision b.
    mkdirSync(join(data, "vms", "vm1"), { recursive: true });
    writeFileSync(
      join(data, "vms", "vm1", "vm.json"),
      JSON.stringify({ name: "vm1", template: "p", revision: revs[1] }),
    );

    const dry = await cli(["template", "prune", "p", "--dry-run", "--json"]);
    assert.equal(dry.code, 0, dry.stderr);
    const plan = JSON.parse(dry.stdout);
    assert.deepEqual(plan.removed.map((e: { rev: string }) => e.rev).sort(), [revs[0], revs[2]].sort());
    assert.ok(existsSync(revisionDir(data, "p", revs[0]!)), "dry run removes nothing");

    const keep = await cli(["template", "prune", "p", "--keep", "1", "--json"]);
    assert.equal(keep.code, 0, keep.stderr);
    const kept = JSON.parse(keep.stdout);
    assert.deepEqual(
      kept.removed.map((e: { rev: string }) => e.rev),
      [revs[0]],
      "the newest other (c) is kept",
    );
    assert.ok(kept.freed_bytes >= 64 * 1024, "the copied file's bytes are freed");
    assert.ok(
      kept.removed[0].allocated_bytes > kept.removed[0].freed_bytes,
      "store-linked files free nothing",
    );
    const reasons = Object.fromEntries(
      kept.kept.map((k: { rev: string; reason: string }) => [k.rev, k.reason]),
    );
    assert.deepEqual(reasons, { [revs[1]!]: "in use", [revs[2]!]: "recent", [revs[3]!]: "current" });

    const all = await cli(["template", "prune", "p"]);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stderr, /Freed .* \(1 revision\)/);
    const left = readdirSync(join(data, "templates", "p", "artifacts", "revisions")).sort();
    assert.deepEqual(left, [revs[1], revs[3]].sort());
    assert.equal(readlinkSync(join(data, "templates", "p", "current")), `artifacts/revisions/${revs[3]}`);
    assert.ok(existsSync(join(data, "templates", "p", "current", "rootfs.ext4")));
  });

  test("bad --keep is a usage error; an unknown template is not found", async () => {
    const cli = cliFor(join(scratch("mvm-prune2-"), "data"));
    assert.equal((await cli(["template", "prune", "x", "--keep", "-1"])).code, 2);
    const r = await cli(["template", "prune", "ghost"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /template ghost does not exist/);
  });
});
