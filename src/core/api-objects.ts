// The daemon's API objects that both its server and the SDK handle, field names as on the wire: one
// definition, so what the server sends and what the SDK's types promise cannot drift apart.

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

/** Every event type, in the order the API documents them. */
export const EVENT_TYPES: readonly HostEventType[] = [
  "vm.created",
  "vm.ready",
  "vm.paused",
  "vm.resumed",
  "vm.exited",
  "vm.killed",
  "vm.expired",
  "template.pull.started",
  "template.pull.progress",
  "template.pull.done",
  "template.pull.failed",
];

/** One event of GET /v1/events; fields beyond these depend on the type. */
export interface HostEvent {
  id: number;
  type: HostEventType;
  time: string;
  vm?: string;
  template?: string;
  [field: string]: unknown;
}
