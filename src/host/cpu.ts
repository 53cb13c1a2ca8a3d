import { readFileSync } from "node:fs";

// Facts about the host CPU, from /proc/cpuinfo.

function cpuinfo(): string | undefined {
  try {
    return readFileSync("/proc/cpuinfo", "utf8");
  } catch {
    return undefined;
  }
}

/** The CPU model ("unknown" when not known). A KVM snapshot restores only on the model it was taken on. */
export function hostCpuModel(text: string | undefined = cpuinfo()): string {
  if (text === undefined) return "unknown";
  const m = /^model name\s*:\s*(.+)$/m.exec(text) ?? /^CPU part\s*:\s*(.+)$/m.exec(text);
  return m?.[1]?.trim() ?? "unknown";
}

/** The TSC rate in kHz, from the first CPU's clock (undefined when not known). */
export function hostTscKhz(text: string | undefined = cpuinfo()): number | undefined {
  if (text === undefined) return undefined;
  const m = /^cpu MHz\s*:\s*([\d.]+)/m.exec(text);
  const khz = m?.[1] ? Math.round(Number(m[1]) * 1000) : Number.NaN;
  return Number.isFinite(khz) && khz > 0 ? khz : undefined;
}
