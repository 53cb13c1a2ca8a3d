// Secrets the process holds (registry credentials, API keys, bearer tokens) must never reach output,
// logs or error hints, even when a peer echoes them back (a planner answering 401 with the request's
// Authorization header, a registry quoting a URL with its userinfo). Every secret the process learns is
// remembered here, and every string shown to a person is passed through `redactSecrets` first.

/** Environment variables whose values are credentials wherever they appear. */
export const SECRET_ENV_VARS = [
  "OPENAI_API_KEY",
  "MVM_TEMPLATE_LOCAL_API_KEY",
  "LOCALAI_API_KEY",
  "MVM_OCI_PASSWORD",
  "MVM_TEMPLATE_REGISTRY_SECRET_ACCESS_KEY",
  "MVM_TEMPLATE_REGISTRY_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
] as const;

/** Shorter values are too likely to be ordinary words to be replaced wherever they appear. */
const MIN_SECRET_LENGTH = 6;
const MASK = "***";

const known = new Set<string>();

/** Remembers a credential so that it is masked in everything printed from now on. */
export function rememberSecret(value: string | undefined | null): void {
  const v = value?.trim();
  if (v && v.length >= MIN_SECRET_LENGTH) known.add(v);
}

function envSecrets(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const k of SECRET_ENV_VARS) {
    const v = env[k]?.trim();
    if (v && v.length >= MIN_SECRET_LENGTH) out.push(v);
  }
  return out;
}

// Credentials that are recognisable by their shape, whoever they belong to.
const SHAPES: [RegExp, string][] = [
  // Authorization header values as sent: "Bearer <token>", "Basic <base64>" (not a challenge's realm=).
  [/\b(Bearer|Basic)(\s+)(?!realm=)[A-Za-z0-9._~+/=-]{8,}/g, `$1$2${MASK}`],
  // A password in a URL: scheme://user:password@host (a bare user, as in git@, is no secret).
  [/\b([a-z][a-z0-9+.-]*:\/\/)[^/\s@:'"]*:[^/\s@'"]*@/gi, `$1${MASK}@`],
  // OpenAI-style API keys.
  [/\bsk-[A-Za-z0-9_-]{16,}/g, `sk-${MASK}`],
  // AWS access key ids.
  [/\b(AKIA|ASIA)[A-Z0-9]{16}\b/g, `$1${MASK}`],
];

/** `text` with every known secret and every credential-shaped token replaced by `***`. */
export function redactSecrets(text: string, env: NodeJS.ProcessEnv = process.env): string {
  let out = text;
  const secrets = [...known, ...envSecrets(env)].sort((a, b) => b.length - a.length);
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join(MASK);
  for (const [re, to] of SHAPES) out = out.replace(re, to);
  return out;
}

/** A URL as it may be shown: its userinfo (user:password@) replaced by `***@`. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, `$1${MASK}@`);
}
