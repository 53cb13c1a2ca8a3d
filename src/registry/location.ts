import { fileURLToPath } from "node:url";
import { MvmError, usageError } from "../core/errors.js";
import { redactUrl } from "../core/secrets.js";
import { REGISTRY_LAYOUTS, type RegistryLayout } from "./index.js";

// Where the registry is: --registry URL, else $MVM_TEMPLATE_REGISTRY, else the original's
// MVM_TEMPLATE_REGISTRY_* variables (spec §6.1, same names and rules), else file://<data>/registry.

export interface FileLocation {
  kind: "file";
  root: string;
}

export interface S3Location {
  kind: "s3";
  bucket: string;
  prefix: string;
  endpoint?: string;
  region: string;
  /** Static keys; when absent the AWS SDK's default chain (AWS_* variables, profiles) applies. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  forcePathStyle: boolean;
}

export interface OciLocation {
  kind: "oci";
  /** host[:port] */
  host: string;
  /** Repository path under which each template is one repository: <repository>/<template>. */
  repository: string;
  scheme: "https" | "http";
  /**
   * A manifest digest (`@sha256:…`) or tag (`:tag`) given after the repository: pull and verify read
   * that manifest instead of the `current` tag, and nothing can be pushed to such a location.
   */
  reference?: string;
}

export type RegistryLocation = FileLocation | S3Location | OciLocation;

function envValue(env: NodeJS.ProcessEnv, key: string): string | undefined {
  const v = env[key]?.trim();
  return v ? v : undefined;
}

export function insecureAllowed(env: NodeJS.ProcessEnv): boolean {
  return /^(1|true|yes)$/i.test(env.MVM_TEMPLATE_REGISTRY_INSECURE?.trim() ?? "");
}

function refuseHttp(endpoint: string, env: NodeJS.ProcessEnv): void {
  if (/^http:\/\//i.test(endpoint) && !insecureAllowed(env))
    throw usageError(
      "Template registry endpoint is http:// but MVM_TEMPLATE_REGISTRY_INSECURE is not true",
      "Use https://, or set MVM_TEMPLATE_REGISTRY_INSECURE=1 for a registry you trust on this network.",
    );
}

function cleanPrefix(p: string): string {
  return p.replace(/^\/+|\/+$/g, "");
}

const SAFE_SEGMENT = /^[A-Za-z0-9._-]+$/;

function checkKeyPath(what: string, p: string): void {
  if (p === "") return;
  for (const seg of p.split("/"))
    if (!SAFE_SEGMENT.test(seg) || seg === "." || seg === "..")
      throw usageError(
        `invalid registry ${what} ${JSON.stringify(p)}: use letters, digits, '.', '_', '-' and '/'`,
      );
}

function s3Common(env: NodeJS.ProcessEnv): Omit<S3Location, "kind" | "bucket" | "prefix"> {
  const endpoint =
    envValue(env, "MVM_TEMPLATE_REGISTRY_ENDPOINT") ??
    envValue(env, "AWS_ENDPOINT_URL_S3") ??
    envValue(env, "AWS_ENDPOINT_URL");
  if (endpoint) {
    refuseUserinfo("S3 endpoint", endpoint, CREDENTIAL_HINTS.s3 as string);
    if (!/^https?:\/\/[^/\s]+/i.test(endpoint))
      throw usageError(`invalid S3 endpoint ${JSON.stringify(endpoint)}: expected http(s)://host[:port]`);
    refuseHttp(endpoint, env);
  }
  const region =
    envValue(env, "MVM_TEMPLATE_REGISTRY_REGION") ??
    envValue(env, "AWS_REGION") ??
    envValue(env, "AWS_DEFAULT_REGION") ??
    "us-east-1";
  const accessKeyId = envValue(env, "MVM_TEMPLATE_REGISTRY_ACCESS_KEY_ID");
  const secretAccessKey = envValue(env, "MVM_TEMPLATE_REGISTRY_SECRET_ACCESS_KEY");
  const out: Omit<S3Location, "kind" | "bucket" | "prefix"> = {
    region,
    // MinIO, R2, s3rver and most self-hosted endpoints only speak path-style addressing.
    forcePathStyle: endpoint !== undefined,
  };
  if (endpoint) out.endpoint = endpoint;
  if (accessKeyId && secretAccessKey) out.credentials = { accessKeyId, secretAccessKey };
  return out;
}

/** The original's configuration (spec §6.1), used when no URL is given. */
function fromLegacyEnv(env: NodeJS.ProcessEnv): S3Location | undefined {
  const endpoint = envValue(env, "MVM_TEMPLATE_REGISTRY_ENDPOINT");
  if (!endpoint) return undefined;
  const bucket = envValue(env, "MVM_TEMPLATE_REGISTRY_BUCKET");
  if (!bucket) throw usageError("MVM_TEMPLATE_REGISTRY_BUCKET must be set when registry endpoint is set");
  for (const key of ["MVM_TEMPLATE_REGISTRY_ACCESS_KEY_ID", "MVM_TEMPLATE_REGISTRY_SECRET_ACCESS_KEY"])
    if (!envValue(env, key)) throw usageError(`${key} must be set when registry endpoint is set`);
  const rawPrefix = env.MVM_TEMPLATE_REGISTRY_PREFIX;
  const prefix = rawPrefix === undefined || rawPrefix.trim() === "" ? "mvm" : cleanPrefix(rawPrefix.trim());
  if (prefix === "") throw usageError("Template registry prefix is empty");
  checkKeyPath("prefix", prefix);
  return { kind: "s3", bucket, prefix, ...s3Common(env) };
}

/** Credentials in a URL would be printed, logged and kept in shell history: they are refused. */
function refuseUserinfo(what: string, url: string, hint: string): void {
  if (/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(url.trim()))
    throw usageError(
      `${what} ${JSON.stringify(redactUrl(url.trim()))} holds credentials (user:password@): they are not accepted in a URL`,
      hint,
    );
}

const CREDENTIAL_HINTS: Record<string, string> = {
  oci: "Give OCI credentials with MVM_OCI_USERNAME and MVM_OCI_PASSWORD, or 'docker login'.",
  s3: "Give S3 keys with MVM_TEMPLATE_REGISTRY_ACCESS_KEY_ID and MVM_TEMPLATE_REGISTRY_SECRET_ACCESS_KEY (or the AWS_* variables).",
};

export function parseRegistryUrl(url: string, env: NodeJS.ProcessEnv = process.env): RegistryLocation {
  const scheme0 = /^([a-z0-9+]+):/i.exec(url.trim())?.[1]?.toLowerCase() ?? "";
  refuseUserinfo(
    "registry",
    url,
    CREDENTIAL_HINTS[scheme0] ?? "Remove the user:password@ part; file:// registries need no credentials.",
  );
  const m = /^([a-z0-9+]+):\/\/(.*)$/i.exec(url.trim());
  if (!m) throw usageError(`invalid registry ${JSON.stringify(url)}: expected file://, s3:// or oci://`);
  const scheme = m[1]!.toLowerCase();
  const rest = m[2]!;
  if (scheme === "file") {
    let root: string;
    try {
      root = fileURLToPath(url.trim());
    } catch (e) {
      throw usageError(`invalid registry ${JSON.stringify(url)}: ${(e as Error).message}`);
    }
    return { kind: "file", root };
  }
  if (scheme === "s3") {
    const slash = rest.indexOf("/");
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const prefix = slash < 0 ? "mvm" : cleanPrefix(rest.slice(slash + 1)) || "mvm";
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket))
      throw usageError(`invalid S3 bucket ${JSON.stringify(bucket)} in ${JSON.stringify(url)}`);
    checkKeyPath("prefix", prefix);
    return { kind: "s3", bucket, prefix, ...s3Common(env) };
  }
  if (scheme === "oci") {
    const slash = rest.indexOf("/");
    const host = slash < 0 ? rest : rest.slice(0, slash);
    let repository = slash < 0 ? "" : cleanPrefix(rest.slice(slash + 1));
    let reference: string | undefined;
    const at = repository.indexOf("@");
    const lastSegment = repository.slice(repository.lastIndexOf("/") + 1);
    if (at >= 0) {
      reference = repository.slice(at + 1);
      repository = repository.slice(0, at);
      if (!/^sha256:[0-9a-f]{64}$/.test(reference))
        throw usageError(
          `invalid OCI digest ${JSON.stringify(reference.slice(0, 80))} in ${JSON.stringify(url)}: expected sha256:<64 hex digits>`,
        );
    } else if (lastSegment.includes(":")) {
      const colon = repository.lastIndexOf(":");
      reference = repository.slice(colon + 1);
      repository = repository.slice(0, colon);
      if (!/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/.test(reference))
        throw usageError(
          `invalid OCI tag ${JSON.stringify(reference.slice(0, 80))} in ${JSON.stringify(url)}`,
        );
    }
    if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(host))
      throw usageError(`invalid OCI registry host ${JSON.stringify(host)} in ${JSON.stringify(url)}`);
    if (
      repository === "" ||
      !/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(repository)
    )
      throw usageError(
        `invalid OCI repository ${JSON.stringify(repository)} in ${JSON.stringify(url)}`,
        "Use oci://host[:port]/repository (lowercase path); each template becomes <repository>/<name>.",
      );
    const http = insecureAllowed(env) || /^(1|true|yes)$/i.test(env.MVM_OCI_INSECURE?.trim() ?? "");
    return {
      kind: "oci",
      host,
      repository,
      scheme: http ? "http" : "https",
      ...(reference !== undefined ? { reference } : {}),
    };
  }
  throw usageError(`unsupported registry scheme ${JSON.stringify(scheme)}: use file://, s3:// or oci://`);
}

/** Resolves the registry for a command: flag, then environment, then the default file registry. */
export function resolveRegistry(
  flag: string | undefined,
  defaultRoot: string,
  env: NodeJS.ProcessEnv = process.env,
): RegistryLocation {
  if (flag !== undefined) return parseRegistryUrl(flag, env);
  const fromEnv = envValue(env, "MVM_TEMPLATE_REGISTRY");
  if (fromEnv) return parseRegistryUrl(fromEnv, env);
  const legacy = fromLegacyEnv(env);
  if (legacy) return legacy;
  return { kind: "file", root: defaultRoot };
}

/** The key prefix of a template in S3 and file registries: <prefix>/templates/<id>. */
export function templateKey(prefix: string, template: string): string {
  return prefix ? `${prefix}/templates/${template}` : `templates/${template}`;
}

export function describeLocation(loc: RegistryLocation): string {
  switch (loc.kind) {
    case "file":
      return `file://${loc.root}`;
    case "s3":
      return `s3://${loc.bucket}/${loc.prefix}${loc.endpoint ? ` at ${loc.endpoint}` : ""}`;
    case "oci":
      return `oci://${loc.host}/${loc.repository}${loc.reference ? `${loc.reference.startsWith("sha256:") ? "@" : ":"}${loc.reference}` : ""}${loc.scheme === "http" ? " (insecure http)" : ""}`;
  }
}

export function registryError(message: string, hint?: string): MvmError {
  return new MvmError("network", message, hint === undefined ? {} : { hint });
}

/**
 * The layout push writes: --layout, else $MVM_TEMPLATE_REGISTRY_LAYOUT, else "mvm". "original" is what
 * the original mvm reads (plain objects, `vmlinux`, its checksums.json shape).
 */
export function resolveLayout(
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): RegistryLayout {
  const fromEnv = envValue(env, "MVM_TEMPLATE_REGISTRY_LAYOUT");
  const [value, source] = flag !== undefined ? [flag, "--layout"] : [fromEnv, "MVM_TEMPLATE_REGISTRY_LAYOUT"];
  if (value === undefined) return "mvm";
  const v = value.trim().toLowerCase();
  if (!(REGISTRY_LAYOUTS as readonly string[]).includes(v))
    throw usageError(
      `invalid ${source} ${JSON.stringify(value.slice(0, 64))}: expected ${REGISTRY_LAYOUTS.join(" or ")}`,
    );
  return v as RegistryLayout;
}
