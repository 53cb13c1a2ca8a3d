import { promises as fs } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { MvmError } from "../../core/errors.js";
import { rememberSecret } from "../../core/secrets.js";
import { credentialsFromHelper } from "./credential-helper.js";

// Credentials and authentication for the OCI distribution API: basic auth, and bearer tokens obtained
// from the realm a 401 names (the Docker token protocol that GHCR, ECR, Harbor and Docker Hub use).
// Secrets are held in memory only and never appear in messages.

export interface OciCredentials {
  username: string;
  password: string;
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

/** The entry of a map keyed the ways docker keys registries: host, https://host, http://host, …/v2/. */
function forHost<T>(map: Record<string, T> | undefined, host: string): T | undefined {
  if (!map || typeof map !== "object") return undefined;
  for (const key of [host, `https://${host}`, `http://${host}`, `https://${host}/v2/`])
    if (Object.hasOwn(map, key)) return map[key];
  return undefined;
}

/**
 * MVM_OCI_USERNAME/MVM_OCI_PASSWORD; else, from the Docker config ($DOCKER_CONFIG/config.json or
 * ~/.docker/config.json) as docker reads it: the host's `credHelpers` entry, else `credsStore`
 * (each run as `docker-credential-<name> get`), else the host's `auths` entry.
 */
export async function ociCredentials(
  host: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<OciCredentials | undefined> {
  const username = env.MVM_OCI_USERNAME;
  const password = env.MVM_OCI_PASSWORD;
  if (username && password) return { username, password };
  const dir = env.DOCKER_CONFIG?.trim() || join(env.HOME?.trim() || homedir(), ".docker");
  let config: DockerConfig;
  try {
    config = JSON.parse(await fs.readFile(join(dir, "config.json"), "utf8")) as DockerConfig;
  } catch {
    return undefined;
  }
  if (!config || typeof config !== "object") return undefined;
  const helper = forHost(config.credHelpers, host) ?? config.credsStore;
  if (typeof helper === "string" && helper !== "") {
    const fromHelper = await credentialsFromHelper(helper, host);
    if (fromHelper) return fromHelper;
  }
  const entry = forHost(config.auths, host);
  if (!entry || typeof entry !== "object") return undefined;
  if (entry.username && entry.password) return { username: entry.username, password: entry.password };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return undefined;
}

export function basicHeader(c: OciCredentials): string {
  const header = `Basic ${Buffer.from(`${c.username}:${c.password}`).toString("base64")}`;
  // A registry may echo what it was sent: neither the password nor its encoded form is ever printed.
  rememberSecret(c.password);
  rememberSecret(header.slice("Basic ".length));
  return header;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `Bearer realm="…",service="…",scope="…"` (or `Basic realm="…"`). */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g;
  for (let p = re.exec(m[2] ?? ""); p; p = re.exec(m[2] ?? ""))
    params[p[1]!.toLowerCase()] = p[2] ?? p[3] ?? "";
  return { scheme: m[1]!.toLowerCase(), params };
}

/** Fetches a bearer token for a challenge, authenticating to the realm with basic auth when we can. */
export async function fetchToken(
  ch: Challenge,
  creds: OciCredentials | undefined,
  insecure: boolean,
): Promise<string> {
  const realm = ch.params.realm;
  if (!realm) throw new MvmError("network", "registry asked for a bearer token without naming a realm");
  let url: URL;
  try {
    url = new URL(realm);
  } catch {
    throw new MvmError(
      "network",
      `registry token realm is not a URL: ${JSON.stringify(realm.slice(0, 100))}`,
    );
  }
  if (url.protocol !== "https:" && !(insecure && url.protocol === "http:"))
    throw new MvmError("network", `registry token realm ${url.origin} is not https`, {
      hint: "Set MVM_TEMPLATE_REGISTRY_INSECURE=1 only for a registry you trust on this network.",
    });
  if (ch.params.service) url.searchParams.set("service", ch.params.service);
  if (ch.params.scope) for (const s of ch.params.scope.split(" ")) url.searchParams.append("scope", s);
  const headers: Record<string, string> = {};
  if (creds) headers.authorization = basicHeader(creds);
  const res = await fetch(url, { headers });
  if (res.status === 401 || res.status === 403)
    throw new MvmError("network", `registry token service refused the credentials (HTTP ${res.status})`, {
      hint: "Set MVM_OCI_USERNAME and MVM_OCI_PASSWORD, or log in with 'docker login'.",
    });
  if (!res.ok) throw new MvmError("network", `registry token service answered HTTP ${res.status}`);
  const body = (await res.json()) as { token?: unknown; access_token?: unknown };
  const token = typeof body.token === "string" ? body.token : body.access_token;
  if (typeof token !== "string" || token === "")
    throw new MvmError("network", "registry token service sent no token");
  rememberSecret(token);
  return token;
}
