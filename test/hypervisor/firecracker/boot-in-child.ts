// Boots a VM with the Firecracker backend in a process of its own, so a test can SIGKILL "mvmctl"
// in the middle of a start. argv[2] is the JSON of { cfg, network, dataDir }.

import { DataPaths } from "../../../src/store/paths.js";
import type { VmConfig } from "../../../src/hypervisor/backend.js";
import { FirecrackerBackend, type FirecrackerNetwork } from "../../../src/hypervisor/firecracker/backend.js";

const { cfg, network, dataDir, detach } = JSON.parse(process.argv[2] ?? "{}") as {
  cfg: VmConfig;
  network: FirecrackerNetwork;
  dataDir: string;
  /** Hand the VM over and exit, as `mvmctl up -d` does. */
  detach?: boolean;
};
const backend = new FirecrackerBackend({ network, paths: new DataPaths(dataDir), socketTimeoutMs: 30_000 });
const vm = await backend.boot(cfg);
if (detach) vm.detach();
process.stdout.write(`booted ${vm.pid}\n`);
