import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { runCli, tempDir } from "../helpers/cli.js";

// The data dir against other local users and against killed processes: it is created private to its
// owner (it holds root filesystems, guest memory and logs), and the trash a killed `template delete`
// leaves (often hundreds of MiB) is swept by the next command that writes the store, whichever it is.

test("a new data dir is private to its owner (0700)", async () => {
  const data = join(tempDir("mvm-fresh-"), "nested", "mvm");
  const r = await runCli(["template", "create", "web", "--flake", "github:org/repo"], { dataDir: data });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(statSync(data).mode & 0o777, 0o700);
  assert.ok(existsSync(join(data, "templates", "web", "template.json")));
});

/** A pid that belonged to a process that has exited. */
function deadPid(): number {
  const pid = spawnSync("true").pid;
  assert.ok(pid);
  return pid;
}

/** A data dir holding template `web` and the trash of a `template delete` of `old` killed mid-way. */
async function withKilledDelete(): Promise<{ data: string; trash: string }> {
  const data = tempDir("mvm-trash-");
  for (const name of ["web", "old"]) {
    const r = await runCli(["template", "create", name, "--flake", "github:org/repo"], { dataDir: data });
    assert.equal(r.code, 0, r.stderr);
  }
  // What `template delete old` does first (rename to a hidden trash name), left there by a SIGKILL.
  const trash = join(data, "templates", `.old.trash-${deadPid()}-0123abcd`);
  renameSync(join(data, "templates", "old"), trash);
  mkdirSync(join(trash, "artifacts", "revisions", "r"), { recursive: true });
  writeFileSync(join(trash, "artifacts", "revisions", "r", "rootfs.ext4"), Buffer.alloc(1 << 20));
  return { data, trash };
}

const writers: [string, string[]][] = [
  ["template create", ["template", "create", "api", "--flake", "github:org/repo"]],
  ["template edit", ["template", "edit", "web", "--mem", "512"]],
  ["template delete", ["template", "delete", "web", "--force"]],
];

test(`a killed delete's trash is swept by every command that writes the store: ${writers.length} cases`, async () => {
  const failures: string[] = [];
  for (const [what, args] of writers) {
    const { data, trash } = await withKilledDelete();
    const r = await runCli(args, { dataDir: data });
    if (r.code !== 0) failures.push(`${what}: exit ${r.code}: ${r.stderr}`);
    else if (existsSync(trash))
      failures.push(`${what}: left ${readdirSync(join(data, "templates")).join(", ")}`);
  }
  assert.deepEqual(failures, []);
});
