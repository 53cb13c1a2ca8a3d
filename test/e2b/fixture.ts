import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { cliFor } from "../helpers/scratch.js";
import { tempDir } from "../helpers/cli.js";
import { startTestDaemon, type TestDaemon } from "../helpers/daemon.js";
import { ensureTestKit } from "../helpers/fixtures.js";
import { freePort } from "../helpers/qemu-boot.js";

// One snapshotted template ("box", from the offline http preset) and one `mvmctl serve --e2b` on
// loopback, shared by the E2B suites: the official SDK reaches it through E2B_API_URL,
// E2B_SANDBOX_URL and E2B_API_KEY, exactly as an existing E2B program would.

export interface E2bHost {
  root: string;
  data: string;
  url: string;
  apiKey: string;
  daemon: TestDaemon;
  cli: ReturnType<typeof cliFor>;
  /** Stops the daemon and starts it again on the same port (its VMs keep running). */
  restart(): Promise<void>;
  /** Names `mvmctl ls` shows. */
  lsNames(): Promise<string[]>;
  close(): Promise<void>;
}

export async function startE2bHost(opts: { template?: boolean } = {}): Promise<E2bHost> {
  const root = tempDir("mvm-e2b-");
  const data = join(root, "data");
  const proj = join(root, "proj");
  const keyFile = join(root, "api.key");
  const apiKey = `e2b_${randomBytes(20).toString("hex")}`;
  const cli = cliFor(data, { MVM_QEMU_ACCEL: "tcg" });
  mkdirSync(data, { recursive: true });
  mkdirSync(proj);
  writeFileSync(keyFile, `${apiKey}\n`, { mode: 0o600 });
  if (opts.template !== false) {
    const kit = await ensureTestKit();
    symlinkSync(dirname(kit.dir), join(data, "kit"));
    const init = await cli([
      "template",
      "init",
      "box",
      "--local",
      "--offline",
      "--preset",
      "http",
      "--dir",
      proj,
    ]);
    assert.equal(init.code, 0, init.stderr);
    // E2B's SDK runs commands and file operations as "user" unless told otherwise: the guest has one.
    const flake = join(proj, "box", "flake.nix");
    const text = readFileSync(flake, "utf8");
    assert.ok(text.includes('hostname = "box";'), "the preset's flake names its hostname");
    writeFileSync(flake, text.replace('hostname = "box";', 'hostname = "box";\n        users.user = { };'));
    const steps = [
      ["template", "create", "box", "--flake", join(proj, "box"), "--mem", "512", "--cpus", "1"],
      ["template", "build", "box", "--snapshot"],
      ["template", "tag", "box", "current", "stable"],
    ];
    for (const s of steps) {
      const r = await cli(s);
      assert.equal(r.code, 0, r.stderr);
    }
  }
  const port = await freePort();
  const args = ["--listen", `127.0.0.1:${port}`, "--api-key-file", keyFile, "--e2b"];
  const host: E2bHost = {
    root,
    data,
    url: `http://127.0.0.1:${port}`,
    apiKey,
    daemon: await startTestDaemon(data, args),
    cli,
    restart: async () => {
      assert.equal(await host.daemon.stop(), 0);
      host.daemon = await startTestDaemon(data, args);
    },
    lsNames: async () => {
      const r = await cli(["ls", "--json"]);
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as { name: string }[]).map((v) => v.name);
    },
    close: async () => {
      await host.daemon.stop();
      await cli(["down", "--all"]);
      await rm(root, { recursive: true, force: true });
    },
  };
  return host;
}

/** Points the official SDK at this host, as an existing E2B program is pointed at mvmctl. */
export function useE2bHost(host: E2bHost): void {
  process.env.E2B_API_URL = host.url;
  process.env.E2B_SANDBOX_URL = host.url;
  process.env.E2B_API_KEY = host.apiKey;
  process.env.E2B_VALIDATE_API_KEY = "false";
}

export async function waitFor(what: string, cond: () => Promise<boolean>, limitMs = 60_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`gave up waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
