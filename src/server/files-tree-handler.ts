import type { ServerResponse } from "node:http";
import { mkdirGuest, renameGuest } from "../guest/files.js";
import { boolParam, intParam, withGuest } from "./files-handler.js";
import { parseGuestPath } from "./validate.js";
import type { VmService } from "./vm-service.js";

// Guest directories over the API: making one (with its permission bits, and its parents on request)
// and renaming a file or tree within the guest. With these a client can assemble a tree under a
// temporary name and make it visible in one step, as `mvmctl cp` does.

export async function handleMkdir(
  vms: VmService,
  name: string,
  q: URLSearchParams,
  res: ServerResponse,
): Promise<void> {
  const path = parseGuestPath(q.get("path"));
  const mode = intParam(q, "mode", 0, 0o7777);
  const parents = boolParam(q, "parents");
  await withGuest(vms, name, (ch) =>
    mkdirGuest(ch, path, { parents, ...(mode !== undefined ? { mode } : {}) }),
  );
  res.writeHead(204).end();
}

export async function handleRename(
  vms: VmService,
  name: string,
  q: URLSearchParams,
  res: ServerResponse,
): Promise<void> {
  const from = parseGuestPath(q.get("path"));
  const to = parseGuestPath(q.get("to"), "to");
  await withGuest(vms, name, (ch) => renameGuest(ch, from, to));
  res.writeHead(204).end();
}
