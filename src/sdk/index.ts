// The typed client of the mvmctl API: `import { Mvm } from "mvmctl"`.
export { type MvmOptions, Mvm, type PullRef, type StartOptions } from "./client.js";
export { MvmError } from "./errors.js";
export { EventStream } from "./events.js";
export type { InProcessOptions } from "./in-process.js";
export { type ExecOptions, type LogsOptions, Sandbox } from "./sandbox.js";
export type {
  ExecFrame,
  ExecResult,
  FileEntry,
  FileStat,
  HostEvent,
  HostEventType,
  HostInfo,
  PortMapping,
  PullResult,
  TemplateInfo,
  VmInfo,
} from "./types.js";
