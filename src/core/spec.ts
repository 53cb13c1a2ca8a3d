import { flakeRefProblem } from "./flake-ref.js";
import { identProblem, templateNameProblem } from "./names.js";
import { checkSchemaVersion } from "./schema.js";
import { specTimestamp } from "./time.js";
import { Reader, U32, U8 } from "./validate.js";

export const SPEC_SCHEMA_VERSION = 1;

/** template.json. Field names and order are the original mvm's. */
export interface TemplateSpec {
  schema_version: number;
  template_id: string;
  flake_ref: string;
  profile: string;
  role: string;
  vcpus: number;
  mem_mib: number;
  data_disk_mib: number;
  created_at: string;
  updated_at: string;
}

export const SPEC_DEFAULTS = {
  flake: ".",
  profile: "default",
  role: "worker",
  vcpus: 2,
  mem_mib: 1024,
  data_disk_mib: 0,
} as const;

export function newSpec(
  fields: Omit<TemplateSpec, "schema_version" | "created_at" | "updated_at">,
): TemplateSpec {
  const now = specTimestamp();
  return {
    schema_version: SPEC_SCHEMA_VERSION,
    template_id: fields.template_id,
    flake_ref: fields.flake_ref,
    profile: fields.profile,
    role: fields.role,
    vcpus: fields.vcpus,
    mem_mib: fields.mem_mib,
    data_disk_mib: fields.data_disk_mib,
    created_at: now,
    updated_at: now,
  };
}

export function parseSpec(v: unknown): TemplateSpec {
  const r = Reader.root(v, "template.json");
  const schema_version = r.intOr("schema_version", 0, U32, 1);
  checkSchemaVersion(schema_version, SPEC_SCHEMA_VERSION);
  return {
    schema_version,
    template_id: r.string("template_id", { check: templateNameProblem }),
    flake_ref: r.string("flake_ref", { check: flakeRefProblem }),
    profile: r.string("profile", { check: identProblem }),
    role: r.string("role", { check: identProblem }),
    vcpus: r.int("vcpus", 1, U8),
    mem_mib: r.int("mem_mib", 0, U32),
    data_disk_mib: r.intOr("data_disk_mib", 0, U32, 0),
    created_at: r.string("created_at", { max: 64 }),
    updated_at: r.string("updated_at", { max: 64 }),
  };
}
