import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { errorLines } from "../../helpers/scratch.js";
import { runCli, tempDir } from "../../helpers/cli.js";
import { makeRevision } from "../../helpers/registry/fixtures.js";

// `mvmctl config`: settings in $XDG_CONFIG_HOME/mvm/config.toml, used by every command, with
// precedence flag > environment > config > default, and shown by doctor.

function setup() {
  const root = tempDir("mvm-config-");
  const xdg = join(root, "xdg");
  const data = join(root, "data");
  const env: Record<string, string | undefined> = {
    XDG_CONFIG_HOME: xdg,
    MVM_TEMPLATE_REGISTRY: undefined,
    MVM_TEMPLATE_REGISTRY_ENDPOINT: undefined,
  };
  const cli = (args: string[], extra: Record<string, string | undefined> = {}) =>
    runCli(args, { dataDir: data, env: { ...env, ...extra } });
  return { root, xdg, data, cli };
}

test("set, get, list, unset; a config value is used, the environment and a flag win over it", async () => {
  const { root, xdg, data, cli } = setup();
  const fromConfig = join(root, "reg-config");
  const set = await cli(["config", "set", "registry.url", `file://${fromConfig}`]);
  assert.equal(set.code, 0, set.stderr);
  const file = join(xdg, "mvm", "config.toml");
  assert.match(readFileSync(file, "utf8"), /^\[registry\]\nurl = "file:\/\/.*reg-config"$/m);
  const got = await cli(["config", "get", "registry.url", "--json"]);
  assert.deepEqual(JSON.parse(got.stdout), {
    key: "registry.url",
    value: `file://${fromConfig}`,
    source: "config",
    env: "MVM_TEMPLATE_REGISTRY",
  });

  // The setting reaches the code that reads the variable: a push without --registry goes there.
  await makeRevision(data, "web", { rootfsBytes: 1 << 20 });
  assert.equal((await cli(["template", "push", "web"])).code, 0);
  assert.ok(existsSync(join(fromConfig, "templates", "web", "current")));
  // The environment beats the file; a flag beats both.
  const fromEnv = join(root, "reg-env");
  const envPush = await cli(["template", "push", "web"], { MVM_TEMPLATE_REGISTRY: `file://${fromEnv}` });
  assert.equal(envPush.code, 0, envPush.stderr);
  assert.ok(existsSync(join(fromEnv, "templates", "web", "current")));
  const envGet = await cli(["config", "get", "registry.url", "--json"], {
    MVM_TEMPLATE_REGISTRY: `file://${fromEnv}`,
  });
  assert.equal(JSON.parse(envGet.stdout).source, "env");
  const fromFlag = join(root, "reg-flag");
  assert.equal((await cli(["template", "push", "web", "--registry", `file://${fromFlag}`])).code, 0);
  assert.ok(existsSync(join(fromFlag, "templates", "web", "current")));

  const list = JSON.parse((await cli(["config", "list", "--json"])).stdout);
  assert.equal(list.file, file);
  const row = list.settings.find((s: { key: string }) => s.key === "registry.url");
  assert.equal(row.source, "config");
  assert.equal(list.settings.find((s: { key: string }) => s.key === "nix.offline").source, "default");

  assert.equal((await cli(["config", "unset", "registry.url"])).code, 0);
  const gone = await cli(["config", "get", "registry.url"]);
  assert.equal(gone.code, 1);
  assert.match(
    errorLines(gone.stderr)[0] ?? "",
    /^error: registry\.url is not set \(neither MVM_TEMPLATE_REGISTRY nor /,
  );
});

test("unknown settings and bad values are refused; a broken file is named with its line, doctor shows it", async () => {
  const { xdg, cli } = setup();
  const unknown = await cli(["config", "set", "registry.password", "x"]);
  assert.equal(unknown.code, 2);
  assert.deepEqual(errorLines(unknown.stderr), ['error: unknown setting "registry.password"']);
  const bad = await cli(["config", "set", "nix.offline", "maybe"]);
  assert.equal(bad.code, 2);
  assert.deepEqual(errorLines(bad.stderr), ["error: invalid value for nix.offline: must be one of 0, 1"]);
  const ctl = await cli(["config", "set", "nix.bin", "nix\u001b[31m"]);
  assert.equal(ctl.code, 2);
  assert.doesNotMatch(ctl.stderr, /\u001b/);

  mkdirSync(join(xdg, "mvm"), { recursive: true });
  const file = join(xdg, "mvm", "config.toml");
  writeFileSync(file, '[registry]\nurl = "file:///tmp/x"\n\n[nix]\nfast = "yes"\n');
  const broken = await cli(["template", "list"]);
  assert.equal(broken.code, 1);
  assert.deepEqual(errorLines(broken.stderr), [`error: ${file}:5: nix.fast: unknown setting`]);
  const doctor = await cli(["doctor", "--json"]);
  const check = JSON.parse(doctor.stdout).checks.find((c: { name: string }) => c.name === "config");
  assert.equal(check.status, "fail");
  assert.equal(check.detail, `${file}:5: nix.fast: unknown setting`);
});
