import { usageError } from "./errors.js";

// Template names follow the original mvm's validate_template_name.
const TEMPLATE_NAME_CHARS = /^[a-z0-9_-]+$/;

/** Returns the reason a template name is invalid, or undefined when it is fine. */
export function templateNameProblem(name: string): string | undefined {
  const len = Buffer.byteLength(name, "utf8");
  if (len < 1 || len > 63) return `template name must be 1-63 characters, got ${len}`;
  if (!TEMPLATE_NAME_CHARS.test(name))
    return `template name must be lowercase alphanumeric + hyphens/underscores: ${JSON.stringify(name)}`;
  if (name.startsWith("-") || name.startsWith("_"))
    return `template name must not start with a hyphen or underscore: ${JSON.stringify(name)}`;
  return undefined;
}

export function validateTemplateName(name: string, what = "template name"): string {
  const problem = templateNameProblem(name);
  if (problem) throw usageError(`invalid ${what} ${JSON.stringify(name)}: ${problem}`);
  return name;
}

// Profiles, roles and VM names: a conservative identifier.
const IDENT = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export function identProblem(value: string): string | undefined {
  if (!IDENT.test(value)) return "must match [a-z0-9][a-z0-9_-]{0,62}";
  return undefined;
}

export function validateIdent(value: string, what: string): string {
  const problem = identProblem(value);
  if (problem) throw usageError(`invalid ${what} ${JSON.stringify(value)}: ${problem}`);
  return value;
}

// Revision ids are Nix store hashes (32 chars of nix-base32) in our layout; legacy and pulled ids are
// restricted to a safe alphabet so that they can never name a path outside the store.
const REVISION = /^[0-9a-z]{8,64}$/;

export function revisionProblem(rev: string): string | undefined {
  if (!REVISION.test(rev)) return "must be 8-64 lowercase letters or digits";
  return undefined;
}

export function validateRevision(rev: string): string {
  const problem = revisionProblem(rev);
  if (problem) throw usageError(`invalid revision ${JSON.stringify(rev)}: ${problem}`);
  return rev;
}
