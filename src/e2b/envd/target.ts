import type { VmService } from "../../server/vm-service.js";

/** The sandbox an envd request is for. */
export interface EnvdTarget {
  sandboxId: string;
  /** The daemon's VM name. */
  vmName: string;
  /** Environment given when the sandbox was created: the defaults of every process. */
  envVars: Record<string, string>;
  vms: VmService;
}
