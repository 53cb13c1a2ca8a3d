import type { Endpoint } from "../../sdk/transport.js";
import type { VmInfo } from "../../sdk/types.js";
import { printJson, printLine, success } from "../ui/output.js";
import { daemonCall } from "../daemon-route.js";

// `mvmctl up -d` through the data dir's daemon: the same request as POST /v1/vms, the same output as
// a direct start.

export interface DaemonUp {
  template: string;
  name?: string;
  cpus?: number;
  mem?: number;
  ports: { host: number; guest: number }[];
  json?: boolean;
}

export async function upThroughDaemon(endpoint: Endpoint, req: DaemonUp): Promise<void> {
  const r = await daemonCall<VmInfo>(endpoint, {
    method: "POST",
    path: "/v1/vms",
    json: {
      template: req.template,
      ...(req.name !== undefined ? { name: req.name } : {}),
      ...(req.cpus !== undefined ? { cpus: req.cpus } : {}),
      ...(req.mem !== undefined ? { mem_mib: req.mem } : {}),
      ports: req.ports,
    },
  });
  if (req.json) {
    printJson({
      name: r.name,
      backend: r.backend,
      mode: r.mode,
      ready_ms: r.ready_ms,
      ports: r.ports,
      pid: r.pid,
    });
    return;
  }
  const ports = r.ports.map((x) => `${x.host_address}:${x.host}->${x.guest}`).join(", ") || "none";
  success(`VM ${r.name} is ready (${r.mode}, ${r.ready_ms} ms)`);
  printLine(`name:  ${r.name}`);
  printLine(`mode:  ${r.mode}`);
  printLine(`ready: ${r.ready_ms} ms`);
  printLine(`ports: ${ports}`);
}
