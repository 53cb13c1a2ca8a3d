import type { ServerResponse } from "node:http";
import { join } from "node:path";
import { followConsoleLog, readConsoleLog } from "../hypervisor/keeper/console-log.js";
import { readVmRecord } from "../vm/records.js";
import { ApiError } from "./api-error.js";
import { boolParam } from "./files-handler.js";
import type { VmService } from "./vm-service.js";

// GET /v1/vms/{name}/logs: a VM's console output, the bytes as the guest wrote them (a client that
// shows them to a person escapes them). With follow=true the answer stays open and carries new output
// until the VM is gone or the client leaves; a client that reads slowly slows the reading down rather
// than piling output up in the daemon.

class ClientGone extends Error {}

/** Writes to `res`, resolving once it can take more; rejects once the client has gone. */
function writer(res: ServerResponse): { write: (b: Buffer) => Promise<void>; gone: () => boolean } {
  let gone = false;
  let wake: (() => void) | undefined;
  res.on("close", () => {
    gone = true;
    wake?.();
  });
  res.on("drain", () => wake?.());
  return {
    gone: () => gone,
    write: async (b) => {
      if (gone) throw new ClientGone();
      if (res.write(b)) return;
      await new Promise<void>((r) => {
        wake = r;
      });
      wake = undefined;
      if (gone) throw new ClientGone();
    },
  };
}

export async function handleLogs(
  vms: VmService,
  name: string,
  q: URLSearchParams,
  res: ServerResponse,
): Promise<void> {
  const follow = boolParam(q, "follow");
  const dir = vms.paths.vm(name);
  const rec = await readVmRecord(dir);
  if (!rec) throw new ApiError(404, "vm_not_found", `no VM named ${name}`);
  const path = rec.console_log || join(dir, "console.log");
  res.writeHead(200, { "content-type": "application/octet-stream", "cache-control": "no-store" });
  const out = writer(res);
  try {
    if (follow) await followConsoleLog(path, out.write, { stopped: out.gone });
    else await readConsoleLog(path, out.write);
  } catch (e) {
    if (e instanceof ClientGone || out.gone()) return;
    throw e;
  }
  res.end();
}
