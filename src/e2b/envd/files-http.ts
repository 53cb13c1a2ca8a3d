import type { IncomingMessage, ServerResponse } from "node:http";
import { posix } from "node:path";
import { type Readable, Transform, Writable } from "node:stream";
import { createGunzip } from "node:zlib";
import { GuestError, type GuestChannel } from "../../guest/channel.js";
import { readGuestFile, writeGuestFile } from "../../guest/files.js";
import type { ConnectCode } from "./connect.js";
import { withGuest } from "./guest.js";
import { toConnectError } from "./guest-errors.js";
import { MultipartError, multipartBoundary, readMultipart } from "./multipart.js";
import { giveToUser, missingDirs } from "./ownership.js";
import type { EnvdTarget } from "./target.js";
import { type GuestUser, guestAccounts, resolvePath, resolveUser } from "./users.js";

// envd's HTTP file transfer: GET /files?path=…&username=… streams a file out; POST /files writes one
// (application/octet-stream, `path` required) or several (multipart/form-data, each part's filename
// naming its path unless `path` is given) and answers their EntryInfo list. Parent directories are
// created; what is created belongs to the user. Errors are {message, code} with an HTTP status.

/** Largest upload (all files of one request together, after gzip decoding). */
export const MAX_UPLOAD_BYTES = 1024 * 1024 * 1024;

const HTTP_STATUS: Partial<Record<ConnectCode, number>> = {
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  already_exists: 409,
  failed_precondition: 400,
  resource_exhausted: 507,
  unavailable: 502,
  deadline_exceeded: 504,
};

class HttpFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function sendFailure(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify({ code: status, message });
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function failureOf(e: unknown, path?: string): { status: number; message: string } {
  if (e instanceof HttpFailure) return { status: e.status, message: e.message };
  if (e instanceof MultipartError) return { status: 400, message: `bad multipart body: ${e.message}` };
  if (e instanceof GuestError && e.code === "is_directory" && path)
    return { status: 400, message: `path '${path}' is a directory` };
  const c = toConnectError(e, path);
  return { status: HTTP_STATUS[c.code] ?? 500, message: c.message };
}

function userOf(q: URLSearchParams): string | undefined {
  const u = q.get("username");
  return u === null || u === "" ? undefined : u;
}

async function resolved(ch: GuestChannel, vmKey: string, q: URLSearchParams): Promise<GuestUser> {
  const accounts = await guestAccounts(ch, vmKey);
  try {
    return resolveUser(accounts, userOf(q));
  } catch (e) {
    throw new HttpFailure(401, (e as Error).message);
  }
}

function pathParam(q: URLSearchParams, user: GuestUser): string {
  try {
    return resolvePath(q.get("path") ?? "", user);
  } catch (e) {
    throw new HttpFailure(400, (e as Error).message);
  }
}

async function download(target: EnvdTarget, q: URLSearchParams, res: ServerResponse): Promise<void> {
  let path: string | undefined;
  try {
    await withGuest(target, async (ch, vmKey) => {
      const user = await resolved(ch, vmKey, q);
      path = pathParam(q, user);
      res.on("close", () => {
        if (!res.writableFinished) ch.close("the client went away");
      });
      const out = new Writable({
        write(chunk: Buffer, _enc, cb) {
          if (!res.headersSent) res.writeHead(200, { "content-type": "application/octet-stream" });
          res.write(chunk, () => cb());
        },
      });
      await readGuestFile(ch, path, out);
      if (!res.headersSent)
        res.writeHead(200, { "content-type": "application/octet-stream", "content-length": 0 });
      res.end();
    });
  } catch (e) {
    const f = failureOf(e, path);
    sendFailure(res, f.status, f.message);
  }
}

/** Counts upload bytes and fails the transfer beyond the limit. */
class Cap extends Transform {
  private seen = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null, d?: Buffer) => void): void {
    this.seen += chunk.length;
    if (this.seen > MAX_UPLOAD_BYTES)
      cb(new HttpFailure(413, `the upload exceeds ${MAX_UPLOAD_BYTES} bytes`));
    else cb(null, chunk);
  }
}

async function writeOne(ch: GuestChannel, path: string, user: GuestUser, body: Readable): Promise<unknown> {
  const created = await missingDirs(ch, posix.dirname(path));
  await writeGuestFile(ch, path, body, { parents: true, mode: 0o644 });
  await giveToUser(ch, [...created, path], user);
  return { path, name: posix.basename(path), type: "file" };
}

async function upload(
  target: EnvdTarget,
  q: URLSearchParams,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  let path: string | undefined;
  try {
    const declared = Number(req.headers["content-length"]);
    if (Number.isFinite(declared) && declared > MAX_UPLOAD_BYTES && !req.headers["content-encoding"])
      throw new HttpFailure(413, `the upload exceeds ${MAX_UPLOAD_BYTES} bytes`);
    const encoding = String(req.headers["content-encoding"] ?? "identity").toLowerCase();
    if (encoding !== "identity" && encoding !== "gzip")
      throw new HttpFailure(
        400,
        `Content-Encoding ${encoding.slice(0, 40)} is not supported (identity, gzip)`,
      );
    const capped = new Cap();
    // Its failure (too large, bad gzip, a client gone) reaches whoever reads it; no reader yet is no crash.
    capped.on("error", () => {});
    if (encoding === "gzip") {
      const gunzip = createGunzip();
      req.pipe(gunzip).pipe(capped);
      req.on("error", (e) => capped.destroy(e));
      gunzip.on("error", () => capped.destroy(new HttpFailure(400, "the upload is not valid gzip")));
    } else {
      req.pipe(capped);
      req.on("error", (e) => capped.destroy(e));
    }
    const type = req.headers["content-type"];
    const boundary = multipartBoundary(type);
    const entries = await withGuest(target, async (ch, vmKey) => {
      const user = await resolved(ch, vmKey, q);
      const queryPath = q.get("path") ? pathParam(q, user) : undefined;
      if (boundary) {
        const out: unknown[] = [];
        await readMultipart(capped, boundary, async (info, body) => {
          if (info.filename === undefined) {
            body.resume();
            return;
          }
          const dest = queryPath ?? (info.filename ? resolvePathOr400(info.filename, user) : undefined);
          if (!dest) throw new HttpFailure(400, "a file part names no path (give `path` or a filename)");
          path = dest;
          out.push(await writeOne(ch, dest, user, body));
        });
        if (out.length === 0) throw new HttpFailure(400, "the multipart body holds no file part");
        return out;
      }
      if (!/^application\/octet-stream\b/i.test(type ?? "") && type !== undefined)
        throw new HttpFailure(400, "the body must be application/octet-stream or multipart/form-data");
      if (!queryPath) throw new HttpFailure(400, "path is required for an application/octet-stream upload");
      path = queryPath;
      return [await writeOne(ch, queryPath, user, capped)];
    });
    const text = JSON.stringify(entries);
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.end(text);
  } catch (e) {
    req.unpipe();
    req.resume();
    const f = failureOf(e, path);
    sendFailure(res, f.status, f.message);
  }
}

function resolvePathOr400(p: string, user: GuestUser): string {
  try {
    return resolvePath(p, user);
  } catch (e) {
    throw new HttpFailure(400, (e as Error).message);
  }
}

export async function serveFiles(
  target: EnvdTarget,
  req: IncomingMessage,
  res: ServerResponse,
  q: URLSearchParams,
): Promise<void> {
  if (req.method === "GET") return download(target, q, res);
  if (req.method === "POST") return upload(target, q, req, res);
  req.resume();
  sendFailure(res, 405, "only GET and POST are served on /files");
}
