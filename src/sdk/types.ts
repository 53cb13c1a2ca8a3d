// The API's objects as the SDK returns them (field names as on the wire).

export interface PortMapping {
  host: number;
  guest: number;
  host_address: string;
}

export interface VmInfo {
  name: string;
  template: string;
  revision: string;
  backend: string;
  mode: "restore" | "cold";
  state: "running" | "starting";
  pid: number;
  ports: PortMapping[];
  cpus: number;
  mem_mib: number;
  created_at: string;
  ready_ms: number | null;
  labels: Record<string, string>;
  expires_at: string | null;
}

export interface TemplateInfo {
  name: string;
  status: "ready" | "not_built" | "broken";
  problem: string | null;
  revision: string | null;
  built_at: string | null;
  cpus: number;
  mem_mib: number;
  snapshot: boolean;
  snapshot_fingerprint: Record<string, unknown> | null;
}

export interface HostInfo {
  backend: string;
  hypervisor_version: string;
  arch: string;
  cpu_model: string | null;
  cpus: number;
  mem_total_mib: number;
  capacity: { max_vms: number; max_mem_mib: number };
  used: { vms: number; mem_mib: number };
  free: { vms: number; mem_mib: number };
  vms: string[];
}

export interface ExecResult {
  exit_code: number | null;
  signal: number | null;
  timed_out: boolean;
  pid: number;
  stdout: string;
  stderr: string;
  stdout_truncated: boolean;
  stderr_truncated: boolean;
}

export type ExecFrame =
  | { type: "start"; pid: number }
  | { type: "stdout" | "stderr"; data: Buffer }
  | { type: "exit"; exit_code: number | null; signal: number | null; timed_out: boolean; pid: number };

export interface FileStat {
  kind: "file" | "dir" | "symlink" | "other";
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtime_ms: number;
  target?: string | null;
}

export interface FileEntry extends FileStat {
  path: string;
}
