import { usageError } from "../core/errors.js";
import type { PortForward } from "../hypervisor/backend.js";

// Option parsers shared by the VM commands (up, template build --snapshot, template bench).

const PORT = /^(?:(\d{1,3}(?:\.\d{1,3}){3}):)?(\d{1,5}):(\d{1,5})$/;

/** `-p HOST:GUEST` or `-p ADDR:HOST:GUEST` (repeatable). */
export function parsePort(v: string, prev: PortForward[] = []): PortForward[] {
  const m = PORT.exec(v.trim());
  const host = Number(m?.[2]);
  const guest = Number(m?.[3]);
  if (!m || host < 1 || host > 65535 || guest < 1 || guest > 65535)
    throw usageError(
      `invalid -p ${JSON.stringify(v)}: expected HOST:GUEST with ports 1-65535 (or ADDR:HOST:GUEST)`,
    );
  if (m[1]?.split(".").some((o) => Number(o) > 255))
    throw usageError(`invalid -p ${JSON.stringify(v)}: ${m[1]} is not an IPv4 address`);
  if (prev.some((p) => p.host === host && (p.hostAddress ?? "127.0.0.1") === (m[1] ?? "127.0.0.1")))
    throw usageError(`invalid -p ${JSON.stringify(v)}: host port ${host} is given twice`);
  return [...prev, { host, guest, ...(m[1] ? { hostAddress: m[1] } : {}) }];
}

/** `--ready-timeout S`: whole seconds, 1 to 86400. */
export function parseReadyTimeout(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n < 1 || n > 86_400)
    throw usageError(
      `invalid --ready-timeout ${JSON.stringify(v)}: must be a whole number of seconds from 1 to 86400`,
    );
  return n;
}

export const DEFAULT_READY_TIMEOUT_S = 300;
