export type CheckStatus = "ok" | "warn" | "fail";

/** One line of `mvmctl doctor`: what was checked, what was found, and the command that fixes it. */
export interface DoctorCheck {
  name: string;
  status: CheckStatus;
  detail: string;
  fix?: string;
}

export type CheckFn = () => Promise<DoctorCheck | DoctorCheck[]>;

export function firstLine(s: string): string {
  return s.trim().split("\n")[0]?.trim() ?? "";
}
