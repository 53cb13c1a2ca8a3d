import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { CheckHealth, GuestChannel } from "../../src/guest/channel.js";
import { buildFlakeImage, nixString } from "../helpers/fixtures.js";
import { bootQemu, type TestVm } from "../helpers/qemu-boot.js";

// One guest with several services and checks covers PID 1's and the agent's contract in a single
// boot: hostile quoting in commands and env values, a declared user, restart after SIGKILL,
// failing / hanging / in-grace checks, config and secrets drives, static network from mvm.ip=.

// "$" + "{x}": a literal dollar-brace, not a placeholder.
const TRICKY = `it's "quoted" $HOME \\back\\slash $${"{x}"} $(echo no) \`echo no\`\nsecond line  with  spaces\n`;
const PRE = `mkdir -p /run/q && chown mvm /run/q && printf '%s' "pre'start \\"ok\\"" > /run/q/pre.out`;
const CMD = [
  `printf '%s' "$TRICKY" > /run/q/env.out`,
  `printf '%s|' 'single'"'"'quote' "dq\\"x" 'dollar$HOME' 'back\\slash' "two  spaces" > /run/q/args.out`,
  "exec sleep 100000",
].join("\n");
const EXPECTED_ARGS = `single'quote|dq"x|dollar$HOME|back\\slash|two  spaces|`;
const hex = (file: string) => `od -An -tx1 -v ${file} | tr -d ' \\n'`;

function flake(): string {
  return `{
  inputs.mvm.url = "path:/nonexistent/mvm";
  inputs.mvm-kit.url = "path:/nonexistent/kit";
  inputs.mvm-kit.flake = false;
  outputs = { self, mvm, mvm-kit, ... }: {
    packages.x86_64-linux.default = mvm.lib.mkGuest {
      kit = mvm-kit;
      name = "behaviour";
      hostname = "behave";
      users.postgres = { uid = 5432; };
      services = {
        quoter = {
          preStart = ${nixString(PRE)};
          command = ${nixString(CMD)};
          env = { TRICKY = ${nixString(TRICKY)}; };
        };
        victim.command = ${nixString("echo started >> /tmp/victim.starts\nexec sleep 100000")};
        killer.command = ${nixString('sleep 3\nkill -9 "$(cat /run/mvm/services/victim/pid)"\nexec sleep 100000')};
        pg = { user = "postgres"; command = ${nixString("id > /tmp/pg.id\nexec sleep 100000")}; };
        logger = {
          logFile = "/var/log/logger/out.log";
          command = ${nixString('echo "to the log"\necho "err line" >&2\nexec sleep 100000')};
        };
        graceful = {
          user = "root";
          command = ${nixString("trap 'echo stopped-cleanly > /mnt/data/term; exit 0' TERM\nwhile :; do sleep 1; done")};
        };
        reader = {
          env.PLAIN = "from-image";
          command = ${nixString('cat /mnt/secrets/token > /tmp/secret.copy\nprintf %s "$PLAIN" > /tmp/plain.out\nexec sleep 100000')};
        };
      };
      healthChecks = {
        quoted-env = { healthCmd = ${nixString(hex("/run/q/env.out"))}; healthIntervalSecs = 1; };
        quoted-args = { healthCmd = ${nixString(hex("/run/q/args.out"))}; healthIntervalSecs = 1; };
        pre-start = { healthCmd = "cat /run/q/pre.out"; healthIntervalSecs = 1; };
        restarted = { healthCmd = ${nixString('test "$(wc -l < /tmp/victim.starts)" -ge 2')}; healthIntervalSecs = 1; };
        failing = { healthCmd = ${nixString("echo 'disk on fire' >&2; exit 3")}; healthIntervalSecs = 1; };
        hanging = { healthCmd = "sleep 600"; healthTimeoutSecs = 2; healthIntervalSecs = 1; };
        in-grace = { healthCmd = "exit 1"; startupGraceSecs = 3600; healthIntervalSecs = 1; };
        pg-user = { healthCmd = "cat /tmp/pg.id"; healthIntervalSecs = 1; };
        drives = { healthCmd = "cat /tmp/secret.copy /tmp/plain.out"; healthIntervalSecs = 1; };
        log-file = { healthCmd = "cat /var/log/logger/out.log"; healthIntervalSecs = 1; };
        ctrl-alt-del = { healthCmd = "cat /proc/sys/kernel/ctrl-alt-del"; healthIntervalSecs = 1; };
        data-drive = { healthCmd = ${nixString('grep -q " /mnt/data " /proc/mounts && cat /mnt/data/seed && echo w > /mnt/data/probe')}; healthIntervalSecs = 1; };
      };
    };
  };
}
`;
}

let vm: TestVm;
let dataImage: string;
let ch: GuestChannel;
const work = mkdtempSync(join(tmpdir(), "mvm-boot-behaviour-"));

function ext4(name: string, files: Record<string, string>): string {
  const dir = join(work, `${name}.d`);
  mkdirSync(dir);
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  const img = join(work, `${name}.ext4`);
  const r = spawnSync("mke2fs", ["-q", "-t", "ext4", "-d", dir, img, "8M"], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return img;
}

/** Polls until `pred` holds for the named check (checks run every second). */
async function checkUntil(
  name: string,
  pred: (c: CheckHealth) => boolean,
  timeoutMs = 60_000,
): Promise<CheckHealth> {
  const deadline = Date.now() + timeoutMs;
  let last: CheckHealth | undefined;
  while (Date.now() < deadline) {
    last = (await ch.health()).checks.find((c) => c.name === name);
    if (last && pred(last)) return last;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(
    `check ${name} never matched; last: ${JSON.stringify(last)}\nconsole:\n${vm.console().slice(-2500)}`,
  );
}

before(async () => {
  const flakeDir = join(work, "flake");
  mkdirSync(flakeDir);
  writeFileSync(join(flakeDir, "flake.nix"), flake());
  const image = await buildFlakeImage(flakeDir);
  const config = ext4("config", { "mvm-env.env": "# written by mvmctl up -e\nPLAIN=from-config drive\n" });
  const secrets = ext4("secrets", { token: "s3cret-token\n" });
  const data = ext4("data", { seed: "seeded\n" });
  dataImage = data;
  vm = await bootQemu({
    image,
    workDir: join(work, "vm"),
    drives: [config, secrets, data],
    append: ["mvm.ip=10.0.2.15/24", "mvm.gw=10.0.2.2"],
  });
  ch = await vm.channel(180_000);
});

after(async () => {
  ch?.close();
  await vm?.stop();
  await rm(work, { recursive: true, force: true });
});

test("command and env values with quotes, $, backslashes, spaces and newlines reach the program unchanged", async () => {
  const env = await checkUntil("quoted-env", (c) => c.healthy);
  assert.equal(Buffer.from(env.detail, "hex").toString("utf8"), TRICKY);
  const args = await checkUntil("quoted-args", (c) => c.healthy);
  assert.equal(Buffer.from(args.detail, "hex").toString("utf8"), EXPECTED_ARGS);
  const pre = await checkUntil("pre-start", (c) => c.healthy);
  assert.equal(pre.detail, 'pre\'start "ok"');
});

test("a service killed with SIGKILL is restarted", async () => {
  await checkUntil("restarted", (c) => c.healthy);
  const victim = (await ch.services()).find((s) => s.name === "victim");
  assert.ok(victim, "victim listed");
  assert.ok(victim.restarts >= 1, JSON.stringify(victim));
  assert.equal(victim.running, true);
  assert.match(vm.console(), /service victim exited \(signal 9\), restarting/);
});

test("a failing check is unhealthy with its output as detail; a hanging one times out unhealthy", async () => {
  const failing = await checkUntil("failing", (c) => c.runs >= 1 && c.status !== "pending");
  assert.equal(failing.healthy, false);
  assert.equal(failing.status, "unhealthy");
  assert.equal(failing.detail, "exit code 3: disk on fire");
  const hanging = await checkUntil("hanging", (c) => c.runs >= 1);
  assert.equal(hanging.healthy, false);
  assert.equal(hanging.status, "unhealthy");
  assert.equal(hanging.detail, "timed out after 2s");
  assert.ok((hanging.duration_ms ?? 0) >= 2000, `killed at its timeout, not before: ${hanging.duration_ms}`);
  assert.ok(
    (hanging.duration_ms ?? 0) < 10_000,
    `killed at its timeout, not much after: ${hanging.duration_ms}`,
  );
  const grace = await checkUntil("in-grace", (c) => c.runs >= 1);
  assert.equal(grace.status, "starting", "failing inside startupGraceSecs is 'starting'");
  assert.equal(grace.healthy, false);
  const report = await ch.health();
  assert.equal(report.ready, false);
});

test("declared users exist with their uid and the service group; services run as them", async () => {
  const pg = await checkUntil("pg-user", (c) => c.healthy);
  assert.match(pg.detail, /^uid=5432\(postgres\) gid=5432\(postgres\)/);
  assert.match(pg.detail, /900\(mvm\)/);
});

test("config drive env overrides the image's env; secrets are readable by the service group", async () => {
  const d = await checkUntil("drives", (c) => c.healthy);
  assert.equal(d.detail, "s3cret-token\nfrom-config drive");
  assert.match(vm.console(), /\[init\] network: eth0 10\.0\.2\.15\/24 via 10\.0\.2\.2 \(static\)/);
  assert.match(vm.console(), /\[init\] config drive mounted/);
  assert.match(vm.console(), /\[init\] secrets loaded/);
});

test("a service's logFile receives its stdout and stderr; the data drive is mounted read-write", async () => {
  const log = await checkUntil("log-file", (c) => c.healthy);
  assert.equal(log.detail, "to the log\nerr line");
  const data = await checkUntil("data-drive", (c) => c.healthy);
  assert.equal(data.detail, "seeded");
  assert.match(vm.console(), /\[init\] data drive mounted/);
});

test("a fresh health request runs the checks now and answers when they have finished", async () => {
  const t0 = Date.now();
  const before = (await ch.health()).checks.find((c) => c.name === "pg-user")!;
  const fresh = await ch.health({ fresh: true, timeoutMs: 30_000 });
  const after = fresh.checks.find((c) => c.name === "pg-user")!;
  assert.ok(after.runs > before.runs, "re-ran");
  const hanging = fresh.checks.find((c) => c.name === "hanging")!;
  assert.equal(hanging.detail, "timed out after 2s");
  assert.ok(Date.now() - t0 >= 1500, "waited for the hanging check's timeout");
});

test("Ctrl+Alt+Del is a signal to PID 1 (a clean shutdown), not an immediate reboot", async () => {
  // 0: the kernel sends SIGINT to PID 1, which stops like on SIGTERM (Firecracker's SendCtrlAltDel).
  const cad = await checkUntil("ctrl-alt-del", (c) => c.healthy);
  assert.equal(cad.detail, "0");
});

test("SIGTERM to PID 1 (shutdown request) stops services with TERM and unmounts the data drive cleanly", async () => {
  await ch.shutdown();
  const code = await Promise.race([vm.exited, new Promise((r) => setTimeout(() => r("timeout"), 60_000))]);
  assert.notEqual(code, "timeout", `QEMU still running; console:\n${vm.console().slice(-2000)}`);
  const term = spawnSync("debugfs", ["-R", "cat /term", dataImage], { encoding: "utf8" });
  assert.equal(
    term.stdout,
    "stopped-cleanly\n",
    "the service's TERM trap ran and its write reached the disk",
  );
  const fsck = spawnSync("e2fsck", ["-fn", dataImage], { encoding: "utf8" });
  assert.equal(fsck.status, 0, fsck.stdout);
});
