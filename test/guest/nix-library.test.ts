import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ensureTestKit, exampleFlakeDir, nixBuildOffline, type TestKit } from "../helpers/fixtures.js";

// The library with the real nix, offline: the examples build, rebuild bit for bit, and bad calls
// fail at evaluation with a message that names the problem.

let kit: TestKit;
const work = mkdtempSync(join(tmpdir(), "mvm-nixlib-"));

before(async () => {
  kit = await ensureTestKit();
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

for (const [name, service] of [
  ["minimal", undefined],
  ["http", "web"],
  ["worker", "worker"],
] as const) {
  test(`example ${name} builds offline and 'nix build --rebuild' reproduces it`, async () => {
    const r = await nixBuildOffline(exampleFlakeDir(name), kit.dir);
    assert.equal(r.code, 0, r.stderr);
    const out = r.outPath!;
    for (const f of [
      "kernel",
      "initrd",
      "rootfs/init",
      "rootfs/bin/busybox",
      "rootfs/usr/bin/mvm-agent",
      "rootfs/etc/mvm/passwd",
    ])
      assert.ok(existsSync(join(out, f)), `${f} in ${out}`);
    assert.equal(readFileSync(join(out, "rootfs/etc/mvm/hostname"), "utf8"), `${name}\n`);
    // The kit's static bash is the guest's /bin/bash (E2B's SDK runs commands with it).
    assert.ok(readFileSync(join(out, "rootfs/bin/bash")).equals(readFileSync(join(kit.dir, "bash"))));
    if (service) assert.ok(existsSync(join(out, `rootfs/etc/mvm/services/${service}/command`)));
    const again = await nixBuildOffline(exampleFlakeDir(name), kit.dir, ["--rebuild"]);
    assert.equal(again.code, 0, `--rebuild found a difference:\n${again.stderr.slice(-2000)}`);
  });
}

test("the default hostname is the name made DNS-safe", async () => {
  const d = join(work, "hostname");
  mkdirSync(d);
  writeFileSync(
    join(d, "flake.nix"),
    `{
  inputs.mvm.url = "path:/nonexistent/mvm";
  inputs.mvm-kit.url = "path:/nonexistent/kit";
  inputs.mvm-kit.flake = false;
  outputs = { self, mvm, mvm-kit, ... }: {
    packages.x86_64-linux.default = mvm.lib.mkGuest { kit = mvm-kit; name = "_my_web.app_"; };
  };
}
`,
  );
  const r = await nixBuildOffline(d, kit.dir);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(join(r.outPath!, "rootfs/etc/mvm/hostname"), "utf8"), "my-web-app\n");
});

function badFlake(dir: string, body: string, system = "x86_64-linux"): string {
  const d = join(work, dir);
  mkdirSync(d);
  writeFileSync(
    join(d, "flake.nix"),
    `{
  inputs.mvm.url = "path:/nonexistent/mvm";
  inputs.mvm-kit.url = "path:/nonexistent/kit";
  inputs.mvm-kit.flake = false;
  outputs = { self, mvm, mvm-kit, ... }: {
    packages.x86_64-linux.default = mvm.lib.${system}.mkGuest ({ kit = mvm-kit; name = "bad"; } // ${body});
  };
}
`,
  );
  return d;
}

test("bad mkGuest calls fail at evaluation with a message naming the problem", async () => {
  const cases: Array<[string, string, RegExp, string?]> = [
    ["both", `{ pkgs = { }; }`, /pass exactly one of `kit`/],
    ["nocmd", `{ services.web = { preStart = "true"; }; }`, /services\.web\.command is required/],
    [
      "badenv",
      `{ services.web = { command = "true"; env = { "A-B" = "x"; }; }; }`,
      /`A-B` is not a valid variable name/,
    ],
    ["uid", `{ users.pg = { uid = 900; }; }`, /uid 900 is reserved/],
    ["svcname", `{ services."../x" = { command = "true"; }; }`, /service name `\.\.\/x` is not valid/],
    ["arch", `{ }`, /the guest kit is for x86_64-linux, not aarch64-linux/, "aarch64-linux"],
    ["host", `{ hostname = "not a host"; }`, /hostname `not a host` is not a valid host name/],
    ["kfmt", `{ kernelFormat = "zImage"; }`, /kernelFormat must be "default" or "vmlinux"/],
  ];
  for (const [dir, body, re, system] of cases) {
    const r = await nixBuildOffline(badFlake(dir, body, system), kit.dir);
    assert.notEqual(r.code, 0, `${dir} should fail`);
    assert.match(r.stderr, re, `${dir}: ${r.stderr.slice(-800)}`);
  }
});
