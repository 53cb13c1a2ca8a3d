import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { runCli, tempDir } from "../helpers/cli.js";
import { writeFakeFlake } from "../helpers/fake-flake.js";
import { treeDigest } from "../helpers/registry/fixtures.js";

// A revision made by a real `template build` (real nix, offline, a tiny busybox-built flake) goes
// through the default file registry onto an empty data dir and comes back runnable: spec installed,
// current moved, every file verified, byte-identical to the build.

test("a revision from a real nix build round-trips through the default registry onto an empty data dir", async () => {
  const root = tempDir("mvm-reg-built-");
  const home = join(root, "home");
  const flake = join(root, "flake");
  writeFakeFlake(flake, {
    nonce: `${process.pid}-${Date.now()}`,
    packages: { default: { initrd: true, rootfsKiB: 8192 } },
  });
  const cli = async (args: string[], dataDir: string, env: Record<string, string> = {}) => {
    const r = await runCli(args, { dataDir, env, timeoutMs: 300_000 });
    assert.equal(r.code, 0, `mvmctl ${args.join(" ")}: ${r.stderr}`);
    return r;
  };
  await cli(["template", "create", "built", "--flake", flake, "--mem", "256", "--cpus", "1"], home);
  await cli(["template", "build", "built"], home);
  const info = JSON.parse((await cli(["template", "info", "built", "--json"], home)).stdout) as {
    revision: { revision_hash: string };
    revision_dir: string;
  };
  const rev = info.revision.revision_hash;
  assert.match(rev, /^[0-9a-z]{32}$/);
  const built = await treeDigest(info.revision_dir);

  const registry = `file://${join(root, "registry")}`;
  const env = { MVM_TEMPLATE_REGISTRY: registry };
  await cli(["template", "push", "built"], home, env);
  await cli(["template", "delete", "built", "--force"], home);

  const empty = join(root, "empty");
  await cli(["template", "pull", "built"], empty, env);
  await cli(["template", "verify", "built"], empty);
  await cli(["template", "verify", "built", "--remote"], empty, env);
  const pulled = JSON.parse((await cli(["template", "info", "built", "--json"], empty)).stdout) as {
    spec: { template_id: string; mem_mib: number; vcpus: number };
    revision: { revision_hash: string };
    revision_dir: string;
  };
  assert.equal(pulled.spec.template_id, "built");
  assert.equal(pulled.spec.mem_mib, 256);
  assert.equal(pulled.revision.revision_hash, rev);
  const after = await treeDigest(pulled.revision_dir);
  for (const [name, digest] of Object.entries(built))
    if (name !== "checksums.json") assert.equal(after[name], digest, name);
});
