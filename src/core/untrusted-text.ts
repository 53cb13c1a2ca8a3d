// Text that comes from an untrusted party (a guest, a registry, an HTTP peer) before it reaches a
// terminal: control characters are shown as escapes, never interpreted, and the length is capped.

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

export function untrustedText(s: string, max = 300): string {
  const clipped = s.length > max ? `${s.slice(0, max)}…` : s;
  return clipped.replace(CONTROL, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}
