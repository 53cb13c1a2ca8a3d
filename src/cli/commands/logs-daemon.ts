import { MvmError } from "../../core/errors.js";
import { MvmError as ApiClientError } from "../../sdk/errors.js";
import { consoleLogs } from "../../sdk/sandbox.js";
import type { Endpoint } from "../../sdk/transport.js";
import { cliError } from "../daemon-route.js";

// `mvmctl logs` through the data dir's daemon: its console bytes come from GET /v1/vms/{name}/logs and
// are printed by the same printer as on the direct path. The VM may have stopped (its log is kept until
// it is cleaned up), so no VM information is asked for first.

/** Streams the VM's console log into `print`, waiting for stdout when it is full. */
export async function logsThroughDaemon(
  endpoint: Endpoint,
  name: string,
  follow: boolean,
  print: (b: Buffer) => void,
): Promise<void> {
  try {
    for await (const chunk of consoleLogs(endpoint, name, { follow })) {
      print(chunk);
      if (process.stdout.writableNeedDrain)
        await new Promise<void>((r) => {
          process.stdout.once("drain", r);
        });
    }
  } catch (e) {
    if (e instanceof ApiClientError && e.code === "vm_not_found")
      throw new MvmError("not_found", e.message, { hint: "List VMs with 'mvmctl ls'." });
    throw cliError(e);
  }
}
