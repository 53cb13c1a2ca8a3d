import assert from "node:assert/strict";
import { promises as fs, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { threadsFor } from "../../src/host/hash-pool.js";
import { readChecksums } from "../../src/store/checksums.js";
import { type CliResult, runCli } from "../helpers/cli.js";
import { makeRevision } from "../helpers/registry/fixtures.js";
import { scratch } from "../helpers/scratch.js";

// `template verify` through the real CLI, hashing with several threads and with one: the same report,
// the same errors, and a process that ends as soon as it has answered (no hashing thread left behind).

const MIB = 1 << 20;

/** A revision with a snapshot whose rootfs and mem.bin are large enough to be hashed side by side. */
async function revisionWithSnapshot(home: string) {
  const fx = await makeRevision(home, "web", {
    rootfsBytes: 96 * MIB,
    rootfsDataBytes: 8 * MIB,
    snapshot: true,
    memBytes: 64 * MIB,
  });
  const sizes = Object.keys((await readChecksums(fx.dir)).files).map((f) => statSync(join(fx.dir, f)).size);
  assert.equal(threadsFor(sizes, 2), 2, "the fixture must be large enough for a second hashing thread");
  return fx;
}

function verify(home: string, threads: string, args: string[] = []): Promise<CliResult> {
  return runCli(["template", "verify", "web", ...args], {
    dataDir: home,
    env: { MVM_HASH_THREADS: threads },
    timeoutMs: 60_000,
  });
}

test("verify with two hashing threads prints what one thread prints, and exits by itself", async () => {
  const home = scratch("mvm-verify-par-");
  const fx = await revisionWithSnapshot(home);
  const one = await verify(home, "1");
  const two = await verify(home, "2");
  for (const r of [one, two]) {
    assert.equal(r.signal, null, "verify did not exit on its own");
    assert.equal(r.code, 0, r.stderr);
  }
  assert.equal(two.stdout, one.stdout);
  assert.equal(two.stderr, one.stderr);
  assert.match(two.stdout, new RegExp(`^Revision ${fx.rev} of web against .*checksums\\.json:$`, "m"));
  assert.match(two.stdout, /^ {2}OK {7}snapshot\/mem\.bin$/m);
  assert.match(two.stdout, /^ {2}OK {7}rootfs\.ext4$/m);
  const json = await verify(home, "2", ["--json"]);
  assert.equal(json.code, 0, json.stderr);
  assert.equal(json.stdout, (await verify(home, "1", ["--json"])).stdout);
  const files = (JSON.parse(json.stdout) as { files: { name: string; status: string }[] }).files;
  assert.equal(files.length, 7);
  assert.ok(files.every((f) => f.status === "OK"));
});

test("verify with two hashing threads names the changed and the missing file, as one thread does", async () => {
  const home = scratch("mvm-verify-par-bad-");
  const fx = await revisionWithSnapshot(home);
  // One byte changed deep inside the memory image (a hole before), and the initrd gone.
  const fh = await fs.open(join(fx.dir, "snapshot/mem.bin"), "r+");
  await fh.write(Buffer.from([0x5a]), 0, 1, 40 * MIB + 3);
  await fh.close();
  await fs.rm(join(fx.dir, "initrd"));
  const one = await verify(home, "1");
  const two = await verify(home, "2");
  for (const r of [one, two]) {
    assert.equal(r.signal, null, "verify did not exit on its own");
    assert.equal(r.code, 1);
  }
  assert.equal(two.stdout, one.stdout);
  assert.equal(two.stderr, one.stderr);
  assert.match(two.stdout, /^ {2}MISMATCH snapshot\/mem\.bin$/m);
  assert.match(two.stdout, /^ {2}MISSING {2}initrd$/m);
  assert.match(two.stdout, /^ {2}OK {7}rootfs\.ext4$/m);
  assert.equal(two.stderr, `error: revision ${fx.rev} of web failed verification: 2 of 7 files\n`);
});

test("a bad MVM_HASH_THREADS is one usage error line and exit 2", async () => {
  const home = scratch("mvm-verify-threads-");
  await makeRevision(home, "web");
  const r = await verify(home, "lots\u001b[2J");
  assert.equal(r.code, 2);
  assert.equal(r.stdout, "");
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines[0], 'error: MVM_HASH_THREADS must be a whole number from 1 to 64, got "lots\\u001b[2J"');
  assert.match(lines[1] ?? "", /^hint: Unset it to use every CPU/);
  assert.equal(lines.length, 2);
});
