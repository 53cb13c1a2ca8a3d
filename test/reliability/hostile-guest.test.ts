import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { CLI, runCli, tempDir } from "../helpers/cli.js";
import { nixString } from "../helpers/fixtures.js";
import { createOfflineTemplate } from "../helpers/offline-template.js";

// A hostile guest on QEMU (TCG): its health check prints terminal escape sequences (window title,
// clear screen, a fake green "all checks passed", a C1 CSI, a right-to-left override) and a 250 KB
// line, and a service floods the serial console with escape sequences. Two boots cover it: a
// `build --snapshot` whose health check never passes (progress lines and the final error quote the
// guest), and an `up -d` at a memory size where the check passes on its third run (progress lines),
// whose console then floods a small MVM_CONSOLE_LOG_MAX_BYTES while `logs` and `logs -f` read it.

const HEALTH = [
  "n=$(cat /tmp/hostile.count 2>/dev/null || echo 0)",
  "echo $((n + 1)) > /tmp/hostile.count",
  "mem=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)",
  // Several failures first, so that a host polling the health report sees the check unhealthy.
  'if [ "$mem" -gt 300000 ] && [ "$n" -ge 5 ]; then exit 0; fi',
  // The agent keeps a check's first 4 KiB of output and reports its last 470 bytes: the escape
  // sequences sit at the end of that window, and the 250 KB line follows them.
  "head -c 3800 /dev/zero | tr '\\000' A",
  "printf '\\033]0;pwned-title\\007\\033[2J\\033[H\\033[1;32mall checks passed\\033[0m\\233 2J\\342\\200\\256 fake ok'",
  "head -c 250000 /dev/zero | tr '\\000' B",
  "exit 1",
].join("\n");

const FLOOD = [
  "pad=$(head -c 2000 /dev/zero | tr '\\000' F)",
  "i=0",
  "while :; do",
  "  i=$((i + 1))",
  '  printf \'flood %08d \\033[31mred\\033[0m \\033]0;flood-title\\007 %s\\n\' "$i" "$pad"',
  "  sleep 0.1",
  "done",
].join("\n");

const CONSOLE_BOUND = 64 * 1024;
/** Characters a terminal acts on: ESC, BEL, C1 controls, bidi overrides. None may reach stderr raw. */
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
const MAX_LINE = 1100;

function flake(inputs: string): string {
  return `{
  ${inputs}
  outputs = { self, mvm, mvm-kit, ... }: {
    packages.x86_64-linux.default = mvm.lib.x86_64-linux.mkGuest {
      kit = mvm-kit;
      name = "hostile";
      hostname = "hostile";
      services.flood.command = ${nixString(FLOOD)};
      healthChecks.hostile = {
        healthCmd = ${nixString(HEALTH)};
        healthIntervalSecs = 1;
        healthTimeoutSecs = 10;
        startupGraceSecs = 0;
      };
    };
  };
}
`;
}

/** Every way the guest's text could reach the terminal raw; returns what went wrong (empty: held). */
function terminalSafe(stderr: string): string[] {
  const problems: string[] = [];
  const raw = RAW_CONTROL.exec(stderr);
  if (raw) problems.push(`raw control character U+${raw[0].codePointAt(0)?.toString(16)} at ${raw.index}`);
  const long = stderr.split("\n").find((l) => l.length > MAX_LINE);
  if (long) problems.push(`a line of ${long.length} characters`);
  if (!stderr.includes("\\x1b]0;pwned-title\\x07")) problems.push("the guest's text is not shown escaped");
  if (!stderr.includes("\\u202e")) problems.push("the right-to-left override is not shown escaped");
  if (problems.length > 0) problems.push(`stderr ends with: ${JSON.stringify(stderr.slice(-800))}`);
  return problems;
}

describe("hostile guest output and console", () => {
  const root = tempDir("mvm-hostile-guest-");
  const data = join(root, "data");
  const proj = join(root, "proj");
  // This machine's /dev/kvm is nested and unusable; a loaded host can fool the KVM probe.
  const cli = (args: string[], extra: { env?: Record<string, string> } = {}) =>
    runCli(args, { dataDir: data, env: { MVM_QEMU_ACCEL: "tcg", ...extra.env }, timeoutMs: 600_000 });

  before(async () => {
    await createOfflineTemplate(cli, {
      data,
      proj,
      name: "g",
      preset: "worker",
      memMib: 256,
      cpus: 1,
      editFlake: (generated) => {
        const inputs = /inputs = \{[\s\S]*?\n {2}\};/.exec(generated)?.[0];
        assert.ok(inputs, generated);
        return flake(inputs);
      },
    });
    const build = await cli(["template", "build", "g"]);
    assert.equal(build.code, 0, build.stderr);
  });

  after(async () => {
    await cli(["down", "--all"]);
    await rm(root, { recursive: true, force: true });
  });

  test("build --snapshot: 4 hostile-output cases held (progress and error lines escaped and capped)", async () => {
    const r = await cli(["template", "build", "g", "--snapshot", "--ready-timeout", "150"]);
    assert.equal(r.code, 1, r.stderr);
    const errors = r.stderr.split("\n").filter((l) => l.startsWith("error:"));
    assert.equal(errors.length, 1, r.stderr);
    assert.match(
      errors[0] ?? "",
      /^error: health checks did not pass within 150 s: hostile \(unhealthy: exit code 1: A+/,
    );
    assert.match(r.stderr, /waiting for health checks: hostile \(unhealthy: exit code 1: /);
    assert.deepEqual(terminalSafe(r.stderr), []);
  });

  test("up: 4 hostile-output cases and 3 console cases held (bounded log, logs, logs -f across rotations)", {
    timeout: 600_000,
  }, async () => {
    const env = { MVM_CONSOLE_LOG_MAX_BYTES: String(CONSOLE_BOUND) };
    const up = await cli(
      ["up", "--template", "g", "--name", "hg", "-d", "--mem", "384", "--ready-timeout", "300"],
      { env },
    );
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stderr, /waiting for health checks: hostile \(unhealthy: exit code 1: /);
    assert.deepEqual(terminalSafe(up.stderr), []);

    // The console floods (about 20 KB/s): watch the log while `logs -f` follows it.
    const log = join(data, "vms", "hg", "console.log");
    const size = (p: string) => (existsSync(p) ? statSync(p).size : 0);
    const follow = spawn(process.execPath, [CLI, "logs", "-f", "hg"], {
      env: { ...process.env, MVM_DATA_DIR: data, NO_COLOR: "1", MVM_QEMU_ACCEL: "tcg" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let followed = "";
    follow.stdout.setEncoding("utf8");
    follow.stdout.on("data", (d: string) => {
      followed += d;
    });
    let largest = 0;
    const lines = () => [...followed.matchAll(/flood (\d{8}) /g)].map((m) => Number(m[1]));
    const deadline = Date.now() + 240_000;
    // Until the follower has seen well over what the bound can hold (several rotations).
    while (lines().length < 4 * (CONSOLE_BOUND / 2000) && Date.now() < deadline) {
      largest = Math.max(largest, size(log) + size(`${log}.1`));
      await new Promise((r) => setTimeout(r, 100));
    }
    follow.kill("SIGTERM");
    const seen = lines();
    assert.ok(seen.length >= 4 * (CONSOLE_BOUND / 2000), `logs -f saw ${seen.length} flood lines`);
    assert.ok(largest <= CONSOLE_BOUND, `console log and its .1 held ${largest} bytes`);
    assert.ok(existsSync(`${log}.1`), "the log was rotated");
    const gaps = seen.slice(1).filter((n, i) => n !== (seen[i] as number) + 1);
    assert.deepEqual(gaps, [], "logs -f printed every line once, in order, across rotations");
    assert.equal(RAW_CONTROL.test(followed), false, "logs -f shows escape sequences escaped");
    assert.match(followed, /flood \d{8} \\x1b\[31mred\\x1b\[0m \\x1b\]0;flood-title\\x07 F+\n/);

    const logs = await cli(["logs", "hg"]);
    assert.equal(logs.code, 0, logs.stderr);
    assert.ok(logs.stdout.length <= CONSOLE_BOUND * 2, `logs printed ${logs.stdout.length} characters`);
    assert.equal(RAW_CONTROL.test(logs.stdout), false, "logs shows escape sequences escaped");
    assert.match(logs.stdout, /\\x1b\[31mred/);
    const raw = await cli(["logs", "hg", "--raw"]);
    assert.equal(raw.code, 0, raw.stderr);
    assert.match(raw.stdout, /\u001b\[31mred\u001b\[0m/, "--raw prints the bytes as they are");
    assert.ok(Buffer.byteLength(raw.stdout) <= CONSOLE_BOUND);

    assert.equal((await cli(["down", "hg"])).code, 0);
  });
});
