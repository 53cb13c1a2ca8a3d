import { parse as parseToml } from "smol-toml";
import { MvmError } from "./errors.js";
import { flakeRefProblem } from "./flake-ref.js";
import { identProblem, templateNameProblem } from "./names.js";
import { checkSchemaVersion, parseValue } from "./schema.js";
import { CPU_BOUNDS, DATA_DISK_BOUNDS, MEM_BOUNDS } from "./sizes.js";
import { Reader, ShapeError, U32 } from "./validate.js";

/** One `[[variants]]` entry of a multi-variant config, as in the original mvm, with defaults applied. */
export interface TemplateVariant {
  name: string; // the template name this variant builds
  role: string;
  profile: string;
  vcpus: number;
  mem_mib: number;
  data_disk_mib: number;
}

export interface TemplateConfig {
  schema_version: number;
  template_id: string;
  flake_ref: string;
  profile: string;
  variants: TemplateVariant[];
}

export const CONFIG_SCHEMA_VERSION = 1;

/**
 * Parses the TOML. Unlike the original, a variant without `profile` inherits the top-level profile,
 * and the top-level default is `default` (the original mvm's TOML default, `minimal`, picked
 * packages.<sys>.tenant-minimal while its CLI picked packages.<sys>.default), so both build paths pick
 * packages.<sys>.default.
 * Every derived template name is validated.
 */
export function parseTemplateConfig(file: string, text: string, fallbackBase: string): TemplateConfig {
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (e) {
    const msg = (e as Error).message.split("\n")[0];
    throw new MvmError("corrupt", `${file} is not valid TOML: ${msg}`);
  }
  return parseValue(file, raw, (v) => {
    const r = Reader.root(v, "the config");
    const allowed = new Set(["schema_version", "template_id", "flake_ref", "profile", "variants"]);
    for (const k of r.keys()) if (!allowed.has(k)) throw new ShapeError(k, "unknown key");
    const schema_version = r.intOr("schema_version", 0, U32, 1);
    checkSchemaVersion(schema_version, CONFIG_SCHEMA_VERSION);
    const template_id = r.optString("template_id") ?? "";
    if (template_id !== "" && templateNameProblem(template_id))
      throw new ShapeError("template_id", templateNameProblem(template_id)!);
    const flake_ref = r.string("flake_ref", { check: flakeRefProblem });
    const profile = r.optString("profile", { check: identProblem }) ?? "default";
    const base = template_id || fallbackBase;
    const list = r.array("variants", 64);
    const names = new Set<string>();
    const variants = list.map((item, i) => {
      const vr = r.child(`variants[${i}]`, item);
      const vallowed = new Set(["name", "role", "profile", "vcpus", "mem_mib", "data_disk_mib"]);
      for (const k of vr.keys())
        if (!vallowed.has(k)) throw new ShapeError(`variants[${i}].${k}`, "unknown key");
      const role = vr.string("role", { check: identProblem });
      const explicit = vr.optString("name") ?? "";
      const name = explicit || `${base}-${role}`;
      const problem = templateNameProblem(name);
      if (problem) throw new ShapeError(`variants[${i}].name`, `${JSON.stringify(name)}: ${problem}`);
      if (names.has(name)) throw new ShapeError(`variants[${i}].name`, `duplicate template name ${name}`);
      names.add(name);
      return {
        name,
        role,
        profile: vr.optString("profile", { check: identProblem }) || profile,
        vcpus: vr.int("vcpus", CPU_BOUNDS.min, CPU_BOUNDS.max),
        mem_mib: vr.int("mem_mib", MEM_BOUNDS.min, MEM_BOUNDS.max),
        data_disk_mib: vr.intOr("data_disk_mib", DATA_DISK_BOUNDS.min, DATA_DISK_BOUNDS.max, 0),
      };
    });
    return { schema_version, template_id, flake_ref, profile, variants };
  });
}
