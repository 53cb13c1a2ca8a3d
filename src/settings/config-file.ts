import { promises as fs, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { stringify } from "smol-toml";
import { MvmError } from "../core/errors.js";
import { parseConfigFile, SETTINGS } from "../core/settings.js";
import { writeFileAtomic } from "../store/atomic.js";

const MAX_CONFIG_BYTES = 64 * 1024;

/** `$XDG_CONFIG_HOME/mvm/config.toml`, else `~/.config/mvm/config.toml`. */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME?.trim() || join(env.HOME?.trim() || homedir(), ".config");
  return join(base, "mvm", "config.toml");
}

function readText(file: string): string | undefined {
  try {
    const text = readFileSync(file);
    if (text.length > MAX_CONFIG_BYTES)
      throw new MvmError("corrupt", `${file} is larger than ${MAX_CONFIG_BYTES} bytes`);
    return text.toString("utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    if (e instanceof MvmError) throw e;
    throw new MvmError("corrupt", `cannot read ${file}: ${(e as Error).message}`);
  }
}

export function loadConfig(file = configPath()): Record<string, string> {
  const text = readText(file);
  return text === undefined ? {} : parseConfigFile(file, text);
}

export async function saveConfig(values: Record<string, string>, file = configPath()): Promise<void> {
  const tables: Record<string, Record<string, string>> = {};
  for (const s of SETTINGS) {
    const v = values[s.key];
    if (v === undefined) continue;
    const [section, key] = s.key.split(".") as [string, string];
    tables[section] ??= {};
    tables[section][key] = v;
  }
  await fs.mkdir(join(file, ".."), { recursive: true });
  await writeFileAtomic(
    file,
    `# mvmctl settings: 'mvmctl config list' explains them\n${stringify(tables)}\n`,
  );
}

export type SettingSource = "env" | "config" | "default";

/** Where each setting's value comes from in this process, once applyConfig has run. */
const sources = new Map<string, SettingSource>();

/**
 * Puts config values into the environment where the environment does not set them, so every reader
 * of those variables (and every child process) sees flag > env > config > default.
 */
export function applyConfig(env: NodeJS.ProcessEnv = process.env, file = configPath(env)): void {
  const values = loadConfig(file);
  for (const s of SETTINGS) {
    if (env[s.env] !== undefined && env[s.env] !== "") sources.set(s.key, "env");
    else if (values[s.key] !== undefined) {
      env[s.env] = values[s.key];
      sources.set(s.key, "config");
    } else sources.set(s.key, "default");
  }
}

export function settingSource(key: string): SettingSource {
  return sources.get(key) ?? "default";
}
