// The API's objects as the SDK returns them (field names as on the wire).

import type { VmInfo } from "../core/api-objects.js";

export type { HostEvent, HostEventType, PortMapping, VmInfo } from "../core/api-objects.js";

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
