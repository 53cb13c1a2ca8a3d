// Two timestamp formats, kept for byte compatibility with the original mvm:
// template.json uses RFC 3339 with nanoseconds and "+00:00"; revisions and snapshots use
// "YYYY-MM-DDTHH:MM:SSZ".

export function specTimestamp(d: Date = new Date()): string {
  const iso = d.toISOString(); // 2026-04-28T04:57:41.123Z
  return `${iso.slice(0, 19)}.${iso.slice(20, 23)}000000+00:00`;
}

export function revisionTimestamp(d: Date = new Date()): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

export function isTimestamp(s: string): boolean {
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/.test(s);
}
