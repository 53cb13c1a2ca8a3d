import type { IncomingMessage, ServerResponse } from "node:http";
import { Transform } from "node:stream";
import { connectVmGuest } from "../vm/guest-connect.js";
import { listGuest, readGuestFile, removeGuest, statGuest, writeGuestFile } from "../guest/files.js";
import { ApiError } from "./api-error.js";
import { sendJson } from "./body.js";
import { parseGuestPath } from "./validate.js";
import type { VmService } from "./vm-service.js";

// Guest files over the API: raw bodies streamed both ways (never buffered whole), paths in the
// `path` query parameter. An upload larger than the daemon's limit is cut off with 413 and the
// guest drops its temporary file, so a file is either replaced whole or not at all.

export const DEFAULT_MAX_UPLOAD = 1024 * 1024 * 1024;

export function boolParam(q: URLSearchParams, key: string): boolean {
  const v = q.get(key);
  if (v === null || v === "false" || v === "0") return false;
  if (v === "true" || v === "1") return true;
  throw new ApiError(400, "invalid_request", `${key} must be true or false`);
}

export function intParam(q: URLSearchParams, key: string, min: number, max: number): number | undefined {
  const v = q.get(key);
  if (v === null) return undefined;
  if (!/^\d{1,10}$/.test(v) || Number(v) < min || Number(v) > max)
    throw new ApiError(400, "invalid_request", `${key} must be an integer from ${min} to ${max}`);
  return Number(v);
}

export async function withGuest<T>(
  vms: VmService,
  name: string,
  fn: (ch: Awaited<ReturnType<typeof connectVmGuest>>["channel"]) => Promise<T>,
): Promise<T> {
  await vms.requireRunning(name);
  const { channel } = await connectVmGuest(vms.paths, name);
  try {
    return await fn(channel);
  } finally {
    channel.close();
  }
}

export async function handleFiles(
  vms: VmService,
  name: string,
  op: "read" | "write" | "remove" | "stat" | "list",
  q: URLSearchParams,
  req: IncomingMessage,
  res: ServerResponse,
  maxUpload: number,
): Promise<void> {
  const path = parseGuestPath(q.get("path"));
  await withGuest(vms, name, async (ch) => {
    if (op === "stat") return sendJson(res, 200, await statGuest(ch, path));
    if (op === "list") {
      const depth = intParam(q, "depth", 1, 64) ?? 1;
      return sendJson(res, 200, { entries: await listGuest(ch, path, depth) });
    }
    if (op === "remove") {
      await removeGuest(ch, path, { recursive: boolParam(q, "recursive") });
      res.writeHead(204).end();
      return;
    }
    if (op === "read") {
      const st = await statGuest(ch, path);
      if (st.kind !== "file") throw new ApiError(409, "not_a_file", `${path} is not a regular file`);
      res.writeHead(200, { "content-type": "application/octet-stream" });
      res.on("close", () => {
        if (!res.writableFinished) ch.close("the API client went away");
      });
      await readGuestFile(ch, path, res);
      res.end();
      return;
    }
    const mode = intParam(q, "mode", 0, 0o7777);
    const declared = Number(req.headers["content-length"]);
    if (Number.isFinite(declared) && declared > maxUpload)
      throw new ApiError(413, "body_too_large", `the upload exceeds this daemon's ${maxUpload} bytes`);
    let seen = 0;
    let tooLarge = false;
    const cap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        seen += chunk.length;
        if (seen > maxUpload) {
          tooLarge = true;
          cb(new ApiError(413, "body_too_large", `the upload exceeds this daemon's ${maxUpload} bytes`));
        } else cb(null, chunk);
      },
    });
    req.pipe(cap);
    req.on("error", (e) => cap.destroy(e));
    try {
      const bytes = await writeGuestFile(ch, path, cap, {
        parents: boolParam(q, "parents"),
        ...(mode !== undefined ? { mode } : {}),
      });
      sendJson(res, 201, { path, bytes });
    } catch (e) {
      if (tooLarge) {
        req.unpipe(cap);
        req.resume();
        throw new ApiError(413, "body_too_large", `the upload exceeds this daemon's ${maxUpload} bytes`);
      }
      throw e;
    }
  });
}
