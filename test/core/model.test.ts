import assert from "node:assert/strict";
import { test } from "node:test";
import { parseChecksums } from "../../src/core/checksums.js";
import { parseTemplateConfig } from "../../src/core/config.js";
import { MvmError } from "../../src/core/errors.js";
import { parseRevision } from "../../src/core/revision.js";
import { parseJsonFile } from "../../src/core/schema.js";
import { fingerprintMismatches } from "../../src/core/snapshot.js";
import { parseSpec } from "../../src/core/spec.js";

const spec = {
  schema_version: 1,
  template_id: "demo",
  flake_ref: "/srv/demo",
  profile: "default",
  role: "worker",
  vcpus: 2,
  mem_mib: 1024,
  data_disk_mib: 0,
  created_at: "2026-04-28T04:57:41.123456789+00:00",
  updated_at: "2026-04-28T04:57:41.123456789+00:00",
};

const revision = {
  schema_version: 1,
  revision_hash: "0123456789abcdfghijklmnpqrsvwxyz",
  flake_ref: "/srv/demo",
  flake_lock_hash: "sha256-abc",
  artifact_paths: { vmlinux: "vmlinux", rootfs: "rootfs.ext4", fc_base_config: "fc-base.json" },
  built_at: "2026-04-27T21:57:41Z",
  profile: "default",
  role: "worker",
  vcpus: 2,
  mem_mib: 1024,
  data_disk_mib: 0,
};

function failsWith(fn: () => unknown, kind: string, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof MvmError, `expected MvmError, got ${e}`);
    assert.equal(e.kind, kind);
    assert.match(e.message, pattern);
    return true;
  });
}

test("template.json round-trips and missing schema_version defaults to 1", () => {
  const { schema_version: _, ...noVersion } = spec;
  assert.deepEqual(parseSpec(noVersion), spec);
});

test("a newer schema_version is refused with a clear message naming the file", () => {
  failsWith(
    () => parseJsonFile("/x/template.json", JSON.stringify({ ...spec, schema_version: 2 }), parseSpec),
    "newer_schema",
    /\/x\/template.json .*written by a newer mvmctl/,
  );
  failsWith(
    () =>
      parseJsonFile("/x/revision.json", JSON.stringify({ ...revision, schema_version: 9 }), parseRevision),
    "newer_schema",
    /newer mvmctl/,
  );
});

test("corrupt files name the path and the field", () => {
  failsWith(
    () => parseJsonFile("/x/template.json", "{not json", parseSpec),
    "corrupt",
    /\/x\/template.json is not valid JSON/,
  );
  failsWith(
    () => parseJsonFile("/x/template.json", JSON.stringify({ ...spec, vcpus: "2" }), parseSpec),
    "corrupt",
    /field vcpus: expected a whole number/,
  );
  failsWith(
    () => parseJsonFile("/x/template.json", JSON.stringify({ ...spec, template_id: "../etc" }), parseSpec),
    "corrupt",
    /field template_id/,
  );
  failsWith(
    () =>
      parseJsonFile(
        "/x/revision.json",
        JSON.stringify({ ...revision, revision_hash: "../../x" }),
        parseRevision,
      ),
    "corrupt",
    /field revision_hash/,
  );
});

test("revision.json without snapshot and sizes parses with snapshot null", () => {
  const r = parseRevision(revision);
  assert.equal(r.snapshot, null);
  assert.equal(r.artifact_paths.sizes, undefined);
  const withSnap = parseRevision({
    ...revision,
    snapshot: {
      created_at: "2026-04-27T21:57:41Z",
      vmstate_size_bytes: 10,
      mem_size_bytes: 20,
      boot_args: "console=ttyS0",
      vcpus: 2,
      mem_mib: 1024,
      fingerprint: { backend: "qemu", vcpus: 2 },
    },
  });
  assert.equal(withSnap.snapshot?.mem_size_bytes, 20);
  assert.deepEqual(withSnap.snapshot?.fingerprint, { backend: "qemu", vcpus: 2 });
});

test("checksums.json refuses unknown and traversal file names", () => {
  const base = { schema_version: 1, template_id: "demo", revision_hash: revision.revision_hash };
  const sha = "a".repeat(64);
  assert.deepEqual(parseChecksums({ ...base, files: { "rootfs.ext4": sha, vmlinux: sha } }).files, {
    "rootfs.ext4": sha,
    vmlinux: sha,
  });
  for (const bad of ["../../x", "/etc/passwd", "snapshot/../../x", "extra.bin", ""])
    assert.throws(() => parseChecksums({ ...base, files: { [bad]: sha } }), /unexpected file name/, bad);
  assert.throws(() => parseChecksums({ ...base, files: { vmlinux: "zz" } }), /does not match/);
});

test("fingerprint mismatches name each differing field", () => {
  assert.deepEqual(fingerprintMismatches({ a: 1, b: "x" }, { a: 1, b: "x" }), []);
  assert.deepEqual(fingerprintMismatches({ mem_mib: 256 }, { mem_mib: 512 }), [
    "mem_mib: snapshot has 256, now 512",
  ]);
});

test("TOML config: defaults, inherited profile, derived names validated", () => {
  const cfg = parseTemplateConfig(
    "c.toml",
    `flake_ref = "."
profile = "edge"
[[variants]]
role = "worker"
vcpus = 2
mem_mib = 1024
[[variants]]
name = "gw"
role = "gateway"
profile = "gateway"
vcpus = 1
mem_mib = 512
data_disk_mib = 64
`,
    "app",
  );
  assert.equal(cfg.variants[0]?.name, "app-worker");
  assert.equal(cfg.variants[0]?.profile, "edge");
  assert.equal(cfg.variants[1]?.name, "gw");
  assert.equal(cfg.variants[1]?.data_disk_mib, 64);
  const noProfile = parseTemplateConfig("c.toml", 'flake_ref = "."\nvariants = []\n', "app");
  assert.equal(noProfile.profile, "default");
  failsWith(
    () =>
      parseTemplateConfig(
        "c.toml",
        'flake_ref = "."\n[[variants]]\nrole = "Bad Role"\nvcpus = 1\nmem_mib = 512\n',
        "app",
      ),
    "corrupt",
    /variants\[0\]\.role/,
  );
  failsWith(() => parseTemplateConfig("c.toml", "flake_ref = [", "app"), "corrupt", /not valid TOML/);
  failsWith(
    () =>
      parseTemplateConfig(
        "c.toml",
        'flake_ref = "."\n[[variants]]\nrole = "w"\nvcpus = 99\nmem_mib = 512\n',
        "app",
      ),
    "corrupt",
    /vcpus/,
  );
  failsWith(
    () => parseTemplateConfig("c.toml", 'flake_ref = "$(id)"\nvariants = []', "app"),
    "corrupt",
    /unsafe/,
  );
});
