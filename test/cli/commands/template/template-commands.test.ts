import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { runCli, tempDir } from "../../../helpers/cli.js";

const REV = "0123456789abcdfghijklmnpqrsvwxyz";

function revisionJson(extra: Record<string, unknown> = {}) {
  return {
    schema_version: 1,
    revision_hash: REV,
    flake_ref: "/srv/flake",
    flake_lock_hash: "sha256-x",
    artifact_paths: {
      vmlinux: "vmlinux",
      rootfs: "rootfs.ext4",
      fc_base_config: "fc-base.json",
      sizes: { vmlinux_bytes: 12 * 1024 * 1024, rootfs_bytes: 45 * 1024 * 1024 },
    },
    built_at: "2026-04-27T21:57:41Z",
    profile: "default",
    role: "worker",
    vcpus: 2,
    mem_mib: 1024,
    data_disk_mib: 0,
    snapshot: null,
    ...extra,
  };
}

describe("template commands", () => {
  test("create writes template.json; --json prints it; a second create needs --force", async () => {
    const data = tempDir();
    const flake = tempDir("mvm-flake-");
    const r = await runCli(
      ["template", "create", "web", "--flake", flake, "--cpus", "4", "--mem", "2G", "--json"],
      {
        dataDir: data,
      },
    );
    assert.equal(r.code, 0, r.stderr);
    const printed = JSON.parse(r.stdout);
    const onDisk = JSON.parse(readFileSync(join(data, "templates", "web", "template.json"), "utf8"));
    assert.deepEqual(printed, onDisk);
    assert.equal(onDisk.flake_ref, flake);
    assert.equal(onDisk.vcpus, 4);
    assert.equal(onDisk.mem_mib, 2048);
    assert.equal(onDisk.profile, "default");
    assert.equal(onDisk.role, "worker");

    const again = await runCli(["template", "create", "web", "--flake", flake, "--mem", "512M"], {
      dataDir: data,
    });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^error: template web already exists/m);
    assert.match(again.stderr, /--force/);
    assert.equal(
      JSON.parse(readFileSync(join(data, "templates", "web", "template.json"), "utf8")).mem_mib,
      2048,
    );

    const forced = await runCli(["template", "new", "web", "--flake", flake, "--mem", "512M", "--force"], {
      dataDir: data,
    });
    assert.equal(forced.code, 0, forced.stderr);
    const after = JSON.parse(readFileSync(join(data, "templates", "web", "template.json"), "utf8"));
    assert.equal(after.mem_mib, 512);
    assert.equal(after.created_at, onDisk.created_at, "--force keeps the creation time");
  });

  test("create makes local flake paths absolute and keeps refs with ':'", async () => {
    const data = tempDir();
    const parent = tempDir("mvm-cwd-");
    mkdirSync(join(parent, "sub"));
    const rel = await runCli(["template", "create", "rel", "--flake", "./sub", "--json"], {
      dataDir: data,
      cwd: parent,
    });
    assert.equal(rel.code, 0, rel.stderr);
    assert.equal(JSON.parse(rel.stdout).flake_ref, join(parent, "sub"));
    const gh = await runCli(["template", "create", "gh", "--flake", "github:org/repo?dir=nix", "--json"], {
      dataDir: data,
    });
    assert.equal(JSON.parse(gh.stdout).flake_ref, "github:org/repo?dir=nix");
    const p = await runCli(["template", "create", "p", "--flake", "path:./rel", "--json"], { dataDir: data });
    assert.equal(JSON.parse(p.stdout).flake_ref, "path:./rel");
  });

  test("create-multi is all-or-nothing and validates every derived name", async () => {
    const data = tempDir();
    const ok = await runCli(
      ["template", "create-multi", "app", "--roles", "worker, gateway", "--flake", "github:a/b"],
      {
        dataDir: data,
      },
    );
    assert.equal(ok.code, 0, ok.stderr);
    for (const n of ["app-worker", "app-gateway"]) {
      const s = JSON.parse(readFileSync(join(data, "templates", n, "template.json"), "utf8"));
      assert.equal(s.role, n.slice(4));
    }
    const empty = await runCli(["template", "create-multi", "x", "--roles", "a,,b"], { dataDir: data });
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /empty role/);
    assert.equal(existsSync(join(data, "templates", "x-a")), false);

    // One existing name makes the whole set fail, and nothing new is created.
    const clash = await runCli(
      ["template", "create-multi", "app", "--roles", "db,worker", "--flake", "github:a/b"],
      {
        dataDir: data,
      },
    );
    assert.equal(clash.code, 1);
    assert.match(clash.stderr, /app-worker already exists/);
    assert.equal(existsSync(join(data, "templates", "app-db")), false);

    const longName = await runCli(["template", "create-multi", "a".repeat(60), "--roles", "worker"], {
      dataDir: data,
    });
    assert.equal(longName.code, 2);
    assert.match(longName.stderr, /1-63 characters/);

    const missingRoles = await runCli(["template", "create-multi", "app"], { dataDir: data });
    assert.equal(missingRoles.code, 2);
    assert.match(missingRoles.stderr, /--roles/);
  });

  test("list shows templates, reports broken ones, and keeps the original JSON keys", async () => {
    const data = tempDir();
    const cwd = tempDir("mvm-cwd-");
    mkdirSync(join(cwd, "scaffolded"));
    writeFileSync(join(cwd, "scaffolded", "flake.nix"), "{ outputs = _: { x = mvm.lib.mkGuest {}; }; }");
    await runCli(["template", "create", "alpha", "--flake", "github:a/b"], { dataDir: data });
    await runCli(["template", "create", "beta", "--flake", "github:a/b"], { dataDir: data });
    mkdirSync(join(data, "templates", "gamma"));
    writeFileSync(join(data, "templates", "gamma", "template.json"), "{broken");
    writeFileSync(join(data, "templates", "stray-file"), "");

    const text = await runCli(["template", "list"], { dataDir: data, cwd });
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^Templates \\(${join(data, "templates")}\\):`, "m"));
    assert.match(text.stdout, /^ {2}alpha\s+\(not built\)$/m);
    assert.match(text.stdout, /^ {2}gamma\s+broken: .*not valid JSON/m);
    assert.match(text.stdout, /^Local templates \(base: \.\/\):\n {2}scaffolded$/m);

    const json = JSON.parse((await runCli(["template", "list", "--json"], { dataDir: data, cwd })).stdout);
    assert.deepEqual(json.vm, ["alpha", "beta"]);
    assert.equal(json.vm_base, join(data, "templates"));
    assert.equal(json.local_base, cwd);
    assert.deepEqual(json.local, ["scaffolded"]);
    assert.deepEqual(
      json.broken.map((b: { name: string }) => b.name),
      ["gamma", "stray-file"],
    );

    const none = await runCli(["template", "list"], { dataDir: tempDir(), cwd: tempDir() });
    assert.match(none.stdout, /^ {2}\(none\)$/m);
  });

  test("info prints the original layout and {spec, revision, path} as JSON", async () => {
    const data = tempDir();
    await runCli(["template", "create", "svc", "--flake", "github:a/b"], { dataDir: data });
    const unbuilt = await runCli(["template", "info", "svc"], { dataDir: data });
    assert.equal(unbuilt.code, 0, unbuilt.stderr);
    assert.match(unbuilt.stdout, /^Template: svc\n {2}Flake: {3}github:a\/b\n {2}Profile: default\n/);
    assert.match(unbuilt.stdout, /\n\nRevision: \(not yet built\)\n$/);

    const revDir = join(data, "templates", "svc", "artifacts", "revisions", REV);
    mkdirSync(revDir, { recursive: true });
    writeFileSync(join(revDir, "revision.json"), JSON.stringify(revisionJson()));
    symlinkSync(`artifacts/revisions/${REV}`, join(data, "templates", "svc", "current"));
    const built = await runCli(["template", "info", "svc"], { dataDir: data });
    assert.match(
      built.stdout,
      /Current revision:\n {2}Hash: {4}0123456789ab\n {2}Built: {3}2026-04-27T21:57:41Z\n/,
    );
    assert.match(
      built.stdout,
      / {2}Kernel: {2}12\.0 MiB\n {2}Rootfs: {2}45\.0 MiB\n {2}Total: {3}57\.0 MiB\n/,
    );
    assert.match(built.stdout, /\nSnapshot: \(none\)\n$/);
    const json = JSON.parse((await runCli(["template", "info", "svc", "--json"], { dataDir: data })).stdout);
    assert.equal(json.spec.template_id, "svc");
    assert.equal(json.revision.revision_hash, REV);
    assert.equal(json.path, join(data, "templates", "svc"));

    const missing = await runCli(["template", "info", "nope"], { dataDir: data });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^error: template nope does not exist\nhint: .*template list/);
  });

  test("the original's legacy layout (artifacts/<rev>, current -> revisions/<rev>) is read", async () => {
    const data = tempDir();
    await runCli(["template", "create", "old", "--flake", "github:a/b"], { dataDir: data });
    const legacyDir = join(data, "templates", "old", "artifacts", REV);
    mkdirSync(join(legacyDir, "snapshot"), { recursive: true });
    writeFileSync(
      join(legacyDir, "revision.json"),
      JSON.stringify(
        revisionJson({
          snapshot: {
            created_at: "2026-04-27T22:00:00Z",
            vmstate_size_bytes: 2048,
            mem_size_bytes: 1024 * 1024 * 1024,
            boot_args: "console=ttyS0",
            vcpus: 2,
            mem_mib: 1024,
          },
        }),
      ),
    );
    symlinkSync(`revisions/${REV}`, join(data, "templates", "old", "current")); // dangling, as the original wrote it
    const r = await runCli(["template", "info", "old"], { dataDir: data });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Hash: {4}0123456789ab/);
    assert.match(
      r.stdout,
      /Snapshot:\n {2}Created: 2026-04-27T22:00:00Z\n {2}VM state: 2\.0 KiB\n {2}Memory: {3}1\.0 GiB\n/,
    );
    const list = JSON.parse((await runCli(["template", "list", "--json"], { dataDir: data })).stdout);
    assert.equal(list.templates[0].revision, REV);
    assert.equal(list.templates[0].snapshot, true);
  });

  test("edit changes only what is given, bumps updated_at, and needs at least one flag", async () => {
    const data = tempDir();
    await runCli(["template", "create", "e", "--flake", "github:a/b", "--cpus", "2", "--mem", "1G"], {
      dataDir: data,
    });
    const before = JSON.parse(readFileSync(join(data, "templates", "e", "template.json"), "utf8"));
    const none = await runCli(["template", "edit", "e"], { dataDir: data });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /nothing to edit/);
    await new Promise((r) => setTimeout(r, 5));
    const r = await runCli(["template", "edit", "e", "--mem", "2048"], { dataDir: data });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Updated template 'e'\n vCPUs: {3}2\n MemMiB: {2}2048\n/);
    const after = JSON.parse(readFileSync(join(data, "templates", "e", "template.json"), "utf8"));
    assert.deepEqual({ ...after, mem_mib: 1024, updated_at: "" }, { ...before, updated_at: "" });
    assert.notEqual(after.updated_at, before.updated_at);

    // A built revision that no longer matches the spec is reported.
    const revDir = join(data, "templates", "e", "artifacts", "revisions", REV);
    mkdirSync(revDir, { recursive: true });
    writeFileSync(join(revDir, "revision.json"), JSON.stringify(revisionJson({ flake_ref: "github:a/b" })));
    symlinkSync(`artifacts/revisions/${REV}`, join(data, "templates", "e", "current"));
    const stale = await runCli(["template", "edit", "e", "--profile", "edge"], { dataDir: data });
    assert.match(stale.stderr, /no longer matches the spec \(profile\)/);
    assert.match(stale.stderr, /template build e --force/);

    const missing = await runCli(["template", "edit", "ghost", "--cpus", "2"], { dataDir: data });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /template ghost does not exist/);
  });

  test("delete refuses without a terminal unless --force/-y, and errors on a missing template", async () => {
    const data = tempDir();
    await runCli(["template", "create", "d", "--flake", "github:a/b"], { dataDir: data });
    const refused = await runCli(["template", "delete", "d"], { dataDir: data });
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /without confirmation/);
    assert.ok(existsSync(join(data, "templates", "d", "template.json")));
    const ok = await runCli(["template", "delete", "d", "-y"], { dataDir: data });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(existsSync(join(data, "templates", "d")), false);
    const gone = await runCli(["template", "delete", "d", "--force"], { dataDir: data });
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /template d does not exist/);
  });

  test("init without --local creates the layout; --prompt needs --local", async () => {
    const data = tempDir();
    const r = await runCli(["template", "init", "lay"], { dataDir: data });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(data, "templates", "lay", "artifacts", "revisions")));
    const p = await runCli(["template", "init", "lay2", "--prompt", "python worker"], { dataDir: data });
    assert.notEqual(p.code, 0);
    assert.match(p.stderr, /--prompt currently requires --local/);
  });

  test("help, version, completion and unknown commands", async () => {
    const help = await runCli(["template", "--help"]);
    assert.equal(help.code, 0);
    for (const c of ["create", "list", "info", "edit", "delete", "init"])
      assert.match(help.stdout, new RegExp(`\\b${c}\\b`));
    const version = await runCli(["--version"]);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^mvmctl \d+\.\d+\.\d+\n$/);
    for (const shell of ["bash", "zsh", "fish"]) {
      const c = await runCli(["completion", shell]);
      assert.equal(c.code, 0, c.stderr);
      assert.match(c.stdout, /create-multi/);
    }
    const badShell = await runCli(["completion", "tcsh"]);
    assert.equal(badShell.code, 2);
    const unknown = await runCli(["template", "frobnicate"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^error: unknown command 'frobnicate'/);
    const noName = await runCli(["template", "info"]);
    assert.equal(noName.code, 2);
    assert.match(noName.stderr, /missing required argument/);
  });
});
