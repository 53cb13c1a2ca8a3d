import assert from "node:assert/strict";
import { test } from "node:test";
import { MvmError } from "../../src/core/errors.js";
import { keyLine, MANIFEST_DEFAULTS, parseManifest, renderManifest } from "../../src/core/manifest.js";

function problem(text: string): MvmError {
  try {
    parseManifest("/p/mvm.toml", text);
  } catch (e) {
    assert.ok(e instanceof MvmError, String(e));
    return e;
  }
  assert.fail("expected the manifest to be refused");
}

test("a minimal manifest gets the template defaults; sizes are human", () => {
  const m = parseManifest("/p/mvm.toml", 'name = "web"\n');
  assert.deepEqual(
    { flake: m.flake, profile: m.profile, vcpus: m.vcpus, mem: m.mem_mib, disk: m.data_disk_mib },
    { flake: ".", profile: "default", vcpus: 2, mem: 1024, disk: 0 },
  );
  const sized = parseManifest(
    "/p/mvm.toml",
    'name = "web"\nmem = "2G"\ndata_disk = "512M"\nvcpus = 4\n[snapshot]\nready_timeout = 90\n',
  );
  assert.equal(sized.mem_mib, 2048);
  assert.equal(sized.data_disk_mib, 512);
  assert.equal(sized.vcpus, 4);
  assert.equal(sized.snapshot.ready_timeout_s, 90);
  assert.equal(parseManifest("/p/mvm.toml", 'name = "web"\nmem = 768\n').mem_mib, 768);
});

test("what init writes parses back to the same settings", () => {
  const m = parseManifest("/p/mvm.toml", renderManifest({ name: "api", ...MANIFEST_DEFAULTS }));
  assert.equal(m.name, "api");
  assert.equal(m.mem_mib, MANIFEST_DEFAULTS.mem_mib);
  assert.equal(m.data_disk_mib, 0);
  assert.equal(m.snapshot.ready_timeout_s, 300);
});

test("unknown keys are usage errors naming the key and its line", () => {
  const top = problem('name = "web"\n\n# sizing\ncolour = "blue"\n');
  assert.equal(top.kind, "usage");
  assert.equal(top.message, '/p/mvm.toml:4: colour: unknown key "colour"');
  const nested = problem('name = "web"\n[snapshot]\nready_timeout = 5\n  warm = true\n');
  assert.equal(nested.message, '/p/mvm.toml:4: snapshot.warm: unknown key "snapshot.warm"');
  const table = problem('name = "web"\n[network]\nports = 1\n');
  assert.equal(table.message, '/p/mvm.toml:2: network: unknown key "network"');
});

test("control characters from the file are escaped in errors", () => {
  const e = problem('name = "web"\n"\\u001b[31mred" = 1\n');
  assert.equal(e.message, '/p/mvm.toml: \\u001b[31mred: unknown key "\\u001b[31mred"');
  assert.doesNotMatch(e.message, /\u001b/);
});

test("bad values name the key, its line and the problem", () => {
  assert.equal(
    problem('name = "web"\nmem = "64M"\n').message,
    "/p/mvm.toml:2: mem: must be between 128 and 65536 MiB, got 64M",
  );
  assert.equal(
    problem('name = "web"\nmem = "lots"\n').message,
    "/p/mvm.toml:2: mem: No numeric value found in 'lots'",
  );
  assert.equal(problem('name = "web"\nvcpus = 99\n').message, "/p/mvm.toml:2: vcpus: 99 is outside 1..32");
  assert.match(
    problem('name = "Web App"\n').message,
    /^\/p\/mvm\.toml:1: name: template name must be lowercase/,
  );
  assert.equal(
    problem("vcpus = 1\n").message,
    "/p/mvm.toml: name: the template name is missing (name = ...)",
  );
  assert.match(problem("name = \n").message, /^\/p\/mvm\.toml is not valid TOML: /);
});

test("a newer schema says to upgrade mvmctl", () => {
  const e = problem('schema_version = 2\nname = "web"\nfancy = 1\n');
  assert.equal(e.kind, "newer_schema");
  assert.match(
    e.message,
    /^\/p\/mvm\.toml:1: schema_version 2 is newer than this mvmctl reads \(1\): upgrade mvmctl$/,
  );
});

test("keyLine finds quoted and dotted keys inside their table only", () => {
  const text = 'name = "x"\n[snapshot]\n"ready_timeout" = 3\n[other]\nname = 1\n';
  assert.equal(keyLine(text, "", "name"), 1);
  assert.equal(keyLine(text, "snapshot", "ready_timeout"), 3);
  assert.equal(keyLine(text, "other", "name"), 5);
  assert.equal(keyLine(text, "", "missing"), undefined);
});
