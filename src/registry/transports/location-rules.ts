import { usageError } from "../../core/errors.js";
import { redactUrl } from "../../core/secrets.js";

// Rules every registry kind applies to the address it is given: how an environment value counts as
// set, when plain http is allowed, which key paths are safe, and that a URL never carries credentials.

export function envValue(env: NodeJS.ProcessEnv, key: string): string | undefined {
  const v = env[key]?.trim();
  return v ? v : undefined;
}

export function insecureAllowed(env: NodeJS.ProcessEnv): boolean {
  return /^(1|true|yes)$/i.test(env.MVM_TEMPLATE_REGISTRY_INSECURE?.trim() ?? "");
}

export function refuseHttp(endpoint: string, env: NodeJS.ProcessEnv): void {
  if (/^http:\/\//i.test(endpoint) && !insecureAllowed(env))
    throw usageError(
      "Template registry endpoint is http:// but MVM_TEMPLATE_REGISTRY_INSECURE is not true",
      "Use https://, or set MVM_TEMPLATE_REGISTRY_INSECURE=1 for a registry you trust on this network.",
    );
}

export function cleanPrefix(p: string): string {
  return p.replace(/^\/+|\/+$/g, "");
}

const SAFE_SEGMENT = /^[A-Za-z0-9._-]+$/;

export function checkKeyPath(what: string, p: string): void {
  if (p === "") return;
  for (const seg of p.split("/"))
    if (!SAFE_SEGMENT.test(seg) || seg === "." || seg === "..")
      throw usageError(
        `invalid registry ${what} ${JSON.stringify(p)}: use letters, digits, '.', '_', '-' and '/'`,
      );
}

/** Credentials in a URL would be printed, logged and kept in shell history: they are refused. */
export function refuseUserinfo(what: string, url: string, hint: string): void {
  if (/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(url.trim()))
    throw usageError(
      `${what} ${JSON.stringify(redactUrl(url.trim()))} holds credentials (user:password@): they are not accepted in a URL`,
      hint,
    );
}

/** The key prefix of a template in S3 and file registries: <prefix>/templates/<id>. */
export function templateKey(prefix: string, template: string): string {
  return prefix ? `${prefix}/templates/${template}` : `templates/${template}`;
}
