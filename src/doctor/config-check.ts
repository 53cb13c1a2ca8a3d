import { messageOf } from "../core/errors.js";
import { SETTINGS } from "../core/settings.js";
import { configPath, loadConfig, settingSource } from "../settings/config-file.js";
import type { DoctorCheck } from "./check.js";

/** The config file, and where each setting that is not at its default comes from. */
export async function checkConfig(): Promise<DoctorCheck> {
  const file = configPath();
  try {
    const values = loadConfig(file);
    const set = SETTINGS.filter((s) => settingSource(s.key) !== "default").map(
      (s) =>
        `${s.key}=${JSON.stringify(process.env[s.env] ?? "")} (${settingSource(s.key) === "env" ? s.env : "config"})`,
    );
    const count = Object.keys(values).length;
    return {
      name: "config",
      status: "ok",
      detail: `${file}: ${count === 0 ? "no settings" : `${count} setting(s)`}; ${set.length ? set.join(", ") : "everything at its default"}`,
    };
  } catch (e) {
    return {
      name: "config",
      status: "fail",
      detail: messageOf(e),
      fix: `repair or remove ${file}`,
    };
  }
}
