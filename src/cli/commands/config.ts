import type { Command } from "commander";
import { MvmError, usageError } from "../../core/errors.js";
import { SETTINGS, settingNamed, settingValueProblem } from "../../core/settings.js";
import { configPath, loadConfig, saveConfig, settingSource } from "../../settings/config-file.js";
import { printJson, printLine, success, warn } from "../ui/output.js";
import type { CliContext } from "../context.js";

function effective(env: string): string | undefined {
  const v = process.env[env];
  return v === undefined || v === "" ? undefined : v;
}

export function registerConfig(program: Command, _ctx: CliContext): void {
  const config = program
    .command("config")
    .description("Settings kept in $XDG_CONFIG_HOME/mvm/config.toml (flag > environment > config > default)")
    .addHelpText(
      "after",
      "\nEach setting is an environment variable mvmctl reads; the environment wins over the file.\nSecrets (API keys, S3 secret keys, registry passwords) are not settings.\n\nExamples:\n  mvmctl config set registry.url oci://ghcr.io/acme/templates\n  mvmctl config get registry.url\n  mvmctl config list --json",
    );

  config
    .command("list")
    .description("Every setting: its value, where the value comes from, and its environment variable")
    .option("--json", "print [{key, value, source, env, description}] and the file as JSON")
    .action((opts: { json?: boolean }) => {
      const rows = SETTINGS.map((s) => ({
        key: s.key,
        value: effective(s.env) ?? null,
        source: settingSource(s.key),
        env: s.env,
        description: s.what,
      }));
      if (opts.json) {
        printJson({ file: configPath(), settings: rows });
        return;
      }
      printLine(`# ${configPath()}`);
      const width = Math.max(...rows.map((r) => r.key.length));
      for (const r of rows)
        printLine(
          `${r.key.padEnd(width)}  ${r.value === null ? "-" : JSON.stringify(r.value)}  (${r.source}; ${r.env})`,
        );
    });

  config
    .command("get")
    .description("Print a setting's value (exit 1 when it is not set)")
    .argument("<key>", "setting, e.g. registry.url")
    .option("--json", "print {key, value, source, env} as JSON")
    .action((key: string, opts: { json?: boolean }) => {
      const s = settingNamed(key);
      const value = effective(s.env);
      if (opts.json) printJson({ key, value: value ?? null, source: settingSource(key), env: s.env });
      else if (value !== undefined) printLine(value);
      if (value === undefined && !opts.json)
        throw new MvmError("not_found", `${key} is not set (neither ${s.env} nor ${configPath()})`);
    });

  config
    .command("set")
    .description("Write a setting into the config file")
    .argument("<key>", "setting, e.g. registry.url")
    .argument("<value>", "its value")
    .action(async (key: string, value: string) => {
      const s = settingNamed(key);
      const problem = settingValueProblem(s, value);
      if (problem) throw usageError(`invalid value for ${key}: ${problem}`);
      const values = loadConfig();
      values[key] = value;
      await saveConfig(values);
      success(`Set ${key} in ${configPath()}`);
      if (settingSource(key) === "env")
        warn(`${s.env} is set in the environment and takes precedence over the file`);
    });

  config
    .command("unset")
    .description("Remove a setting from the config file")
    .argument("<key>", "setting")
    .action(async (key: string) => {
      settingNamed(key);
      const values = loadConfig();
      if (values[key] === undefined) throw new MvmError("not_found", `${key} is not in ${configPath()}`);
      delete values[key];
      await saveConfig(values);
      success(`Removed ${key} from ${configPath()}`);
    });
}
