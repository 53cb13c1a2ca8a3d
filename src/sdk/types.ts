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
  state: "running" | "starting" | "paused";
  pid: number;
  ports: PortMapping[];
  cpus: number;
  mem_mib: number;
  created_at: string;
  ready_ms: number | null;
  labels: Record<string, string>;
  expires_at: string | null;
  /** In the answer to a start only: how long each phase of the start took in the daemon. */
  timings?: { phase: string; ms: number }[];
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
  running: {
    name: string;
    template: string;
    state: VmInfo["state"];
    cpus: number;
    mem_mib: number;
    labels: Record<string, string>;
  }[];
  /** The host part of the snapshot fingerprint (null until a template is ready here). */
  snapshot_fingerprint: Record<string, string | number | boolean | null> | null;
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

export type HostEventType =
  | "vm.created"
  | "vm.ready"
  | "vm.paused"
  | "vm.resumed"
  | "vm.exited"
  | "vm.killed"
  | "vm.expired"
  | "template.pull.started"
  | "template.pull.progress"
  | "template.pull.done"
  | "template.pull.failed";

/** One event of GET /v1/events; fields beyond these depend on the type. */
export interface HostEvent {
  id: number;
  type: HostEventType;
  time: string;
  vm?: string;
  template?: string;
  [field: string]: unknown;
}

export interface PullResult {
  template: string;
  revision: string;
  registry: string;
  downloaded_bytes: number;
  already_present: boolean;
  tag: string | null;
  /** The registry's digest of the revision (OCI), usable as `template@digest`. */
  digest: string | null;
  files: { name: string; size: number; stored_size: number }[];
}
