import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import { type FakePackage, writeFakeFlake } from "../helpers/fake-flake.js";
import { cliFor, errorLines, nonce, scratch } from "../helpers/scratch.js";

// Hostile flakes built by real nix: packages whose outputs are symlinks leading out of the Nix store, to
// host files and directories a template must never carry (they would be copied into the revision and
// pushed to a registry). Each build must fail with one error line naming the output and where it points,
// print none of the host file's bytes, and install nothing. Links inside a rootfs tree are guest paths
// and stay legal.

const root = scratch("mvm-hostile-flake-");
const data = join(root, "data");
const flake = join(root, "flake");
const host = join(root, "host");
const SECRET = `host-secret-${nonce()}`;
const cli = cliFor(data);

interface FlakeCase {
  what: string;
  pkg: FakePackage;
  /** The output the error must name, and where it must say the link leads. */
  output: RegExp;
  target: string;
}

const cases: FlakeCase[] = [
  {
    what: "kernel linked to /etc/shadow",
    pkg: { links: { kernel: "/etc/shadow" } },
    output: /output `kernel`/,
    target: "/etc/shadow",
  },
  {
    what: "kernel linked to /etc/shadow through ../ segments",
    pkg: { links: { kernel: "../../../../../../etc/shadow" } },
    output: /output `kernel`/,
    target: "/etc/shadow",
  },
  {
    what: "initrd linked to a private host file",
    pkg: { initrd: true, links: { initrd: join(host, "private.key") } },
    output: /output `initrd`/,
    target: join(host, "private.key"),
  },
  {
    what: "rootfs.ext4 linked to a host file",
    pkg: { links: { "rootfs.ext4": join(host, "private.key") } },
    output: /output `rootfs\.ext4`/,
    target: join(host, "private.key"),
  },
  {
    what: "rootfs tree linked to a host home directory",
    pkg: { rootfs: "none", links: { rootfs: join(host, "home") } },
    output: /output `rootfs`/,
    target: join(host, "home"),
  },
  {
    what: "the whole package linked to a host directory",
    pkg: { outLink: join(host, "fake-output") },
    output: /package \/nix\/store\/[0-9a-z]{32}-guest-/,
    target: join(host, "fake-output"),
  },
];

const profile = (i: number) => `hostile${i}`;

before(async () => {
  // Host files the flake tries to reach: a 0600 key, a home directory with ~/.ssh, and a directory that
  // looks like a complete template output.
  mkdirSync(join(host, "home", ".ssh"), { recursive: true });
  writeFileSync(join(host, "private.key"), SECRET);
  chmodSync(join(host, "private.key"), 0o600);
  writeFileSync(join(host, "home", ".ssh", "id_ed25519"), SECRET);
  mkdirSync(join(host, "fake-output"));
  writeFileSync(join(host, "fake-output", "kernel"), SECRET);
  writeFileSync(join(host, "fake-output", "rootfs.ext4"), SECRET);
  const packages: Record<string, FakePackage> = {
    // A rootfs tree whose links point at guest paths, absolute and relative: never followed on the host.
    legal: {
      rootfs: "tree",
      links: {
        "rootfs/etc/shadow": "/etc/shadow",
        "rootfs/bin/sh": "busybox",
        "rootfs/home": "../../../root",
      },
    },
  };
  cases.forEach((c, i) => {
    packages[profile(i)] = c.pkg;
  });
  writeFakeFlake(flake, { nonce: nonce(), packages });
  for (const [i] of cases.entries()) {
    const r = await cli(["template", "create", `t${i}`, "--flake", flake, "--profile", profile(i)]);
    assert.equal(r.code, 0, r.stderr);
  }
  const r = await cli(["template", "create", "legal", "--flake", flake, "--profile", "legal"]);
  assert.equal(r.code, 0, r.stderr);
});

test(`hostile flakes: ${cases.length} cases of outputs leading out of the Nix store fail cleanly and install nothing`, {
  timeout: 600_000,
}, async () => {
  const failures: string[] = [];
  for (const [i, c] of cases.entries()) {
    const name = `t${i}`;
    const r = await cli(["template", "build", name]);
    const [line] = errorLines(r.stderr);
    if (r.code !== 1) failures.push(`${c.what}: exit ${r.code} ${r.stderr.slice(0, 300)}`);
    else if (!line) failures.push(`${c.what}: no error line in ${JSON.stringify(r.stderr.slice(0, 300))}`);
    else if (!c.output.test(line) || !/points outside the Nix store/.test(line))
      failures.push(`${c.what}: error does not name the output: ${line}`);
    else if (!line.includes(JSON.stringify(c.target)))
      failures.push(`${c.what}: error does not say where it points (${c.target}): ${line}`);
    else if (/\n\s+at \S+ \(/.test(r.stderr)) failures.push(`${c.what}: stack trace`);
    if (r.stderr.includes(SECRET) || r.stdout.includes(SECRET))
      failures.push(`${c.what}: the host file's content was printed`);
    const tdir = join(data, "templates", name);
    if (existsSync(join(tdir, "current"))) failures.push(`${c.what}: current was set`);
    const revs = join(tdir, "artifacts", "revisions");
    const left = existsSync(revs) ? readdirSync(revs) : [];
    if (left.length > 0) failures.push(`${c.what}: left ${left.join(", ")} in the revisions directory`);
  }
  assert.deepEqual(failures, []);
});

test("links inside a rootfs tree are guest paths: packed as links, never followed on the host", {
  timeout: 300_000,
}, async () => {
  const r = await cli(["template", "build", "legal", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { dir: string };
  const image = join(out.dir, "rootfs.ext4");
  const stat = (p: string) => execFileSync("debugfs", ["-R", `stat ${p}`, image], { encoding: "utf8" });
  assert.match(stat("/etc/shadow"), /Type: symlink/);
  assert.match(stat("/etc/shadow"), /Fast link dest: "\/etc\/shadow"/);
  assert.match(stat("/home"), /Fast link dest: "\.\.\/\.\.\/\.\.\/root"/);
});
