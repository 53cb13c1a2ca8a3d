// Canonical JSON: object keys sorted (by UTF-16 code units) at every depth, arrays kept in order.
// Documents that are addressed by their digest (a registry's index, an OCI manifest and its config)
// are written this way, so the same content always has the same bytes and the same digest.

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const child = (v as Record<string, unknown>)[k];
      if (child !== undefined) out[k] = sortKeys(child);
    }
    return out;
  }
  return v;
}

/** Canonical JSON, pretty (2-space indent, trailing newline) or compact. */
export function canonicalJson(v: unknown, pretty = true): string {
  return pretty ? `${JSON.stringify(sortKeys(v), null, 2)}\n` : JSON.stringify(sortKeys(v));
}
