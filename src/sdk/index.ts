// The typed client of `mvmctl serve`: `import { Mvm } from "mvmctl"`.
export { type MvmOptions, Mvm, type StartOptions } from "./client.js";
export { MvmError } from "./errors.js";
export { type ExecOptions, Sandbox } from "./sandbox.js";
export type {
  ExecFrame,
  ExecResult,
  FileEntry,
  FileStat,
  HostInfo,
  PortMapping,
  TemplateInfo,
  VmInfo,
} from "./types.js";
