import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

// TCP clients present `Authorization: Bearer <key>`. Keys are compared as SHA-256 digests with a
// constant-time compare, so neither their content nor their length leaks through timing.

export function generateApiKey(): string {
  return `mvm_${randomBytes(24).toString("base64url")}`;
}

export function bearerMatches(header: string | undefined, key: string): boolean {
  const m = /^Bearer ([\x21-\x7e]{1,512})$/.exec(header ?? "");
  const given = createHash("sha256")
    .update(m?.[1] ?? "")
    .digest();
  const want = createHash("sha256").update(key).digest();
  return timingSafeEqual(given, want) && m !== null;
}
