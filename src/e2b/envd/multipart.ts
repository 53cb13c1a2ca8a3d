import type { Readable } from "node:stream";
import { PassThrough } from "node:stream";

// A streaming multipart/form-data reader: each part's body is handed to the caller as a stream while
// it arrives, so an upload is never held in memory. The caller reads a body to its end (or fails)
// before the next part is parsed.

export interface PartInfo {
  name: string;
  filename: string | undefined;
}

export class MultipartError extends Error {}

const MAX_HEADER_BLOCK = 16 * 1024;
const MAX_PREAMBLE = 64 * 1024;
const CRLF = Buffer.from("\r\n");
const HEADERS_END = Buffer.from("\r\n\r\n");

/** The boundary of a multipart/form-data Content-Type, if it is one. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (!contentType || !/^multipart\/form-data\s*;/i.test(contentType)) return undefined;
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;"]{1,70}))/i.exec(contentType);
  return m?.[1] ?? m?.[2];
}

/** Form-data field values as browsers and undici encode them (", CR and LF percent-escaped). */
function unquote(v: string): string {
  return v.replace(/%22/g, '"').replace(/%0D/gi, "\r").replace(/%0A/gi, "\n");
}

function parseHeaders(block: string): PartInfo {
  let disposition = "";
  for (const line of block.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === "content-disposition")
      disposition = line.slice(colon + 1).trim();
  }
  if (!/^form-data\b/i.test(disposition))
    throw new MultipartError("a part has no form-data Content-Disposition");
  const param = (key: string): string | undefined => {
    const m = new RegExp(`;\\s*${key}="((?:[^"\\\\]|\\\\.)*)"`, "i").exec(disposition);
    if (m?.[1] !== undefined) return unquote(m[1].replace(/\\(.)/g, "$1"));
    const bare = new RegExp(`;\\s*${key}=([^;\\s]+)`, "i").exec(disposition);
    return bare?.[1];
  };
  return { name: param("name") ?? "", filename: param("filename") };
}

export async function readMultipart(
  input: AsyncIterable<Buffer>,
  boundary: string,
  onPart: (info: PartInfo, body: Readable) => Promise<void>,
  maxParts = 1000,
): Promise<void> {
  const delim = Buffer.from(`\r\n--${boundary}`);
  let buf: Buffer = Buffer.from(CRLF);
  type State = "preamble" | "after" | "headers" | "body" | "done";
  let state = "preamble" as State;
  let body: PassThrough | undefined;
  let handler: Promise<void> | undefined;
  let parts = 0;
  let discarded = 0;

  const feed = async (bytes: Buffer) => {
    if (!body || bytes.length === 0) return;
    if (!body.write(bytes)) {
      const b = body;
      await Promise.race([new Promise((r) => b.once("drain", r)), handler]);
    }
  };

  const step = async (): Promise<boolean> => {
    if (state === "preamble") {
      const i = buf.indexOf(delim);
      if (i < 0) {
        const keep = Math.max(0, buf.length - (delim.length - 1));
        discarded += keep;
        if (discarded > MAX_PREAMBLE) throw new MultipartError("no multipart boundary found");
        buf = buf.subarray(keep);
        return false;
      }
      buf = buf.subarray(i + delim.length);
      state = "after";
      return true;
    }
    if (state === "after") {
      if (buf.length < 2) return false;
      if (buf[0] === 0x2d && buf[1] === 0x2d) {
        state = "done";
        return false;
      }
      const nl = buf.indexOf(CRLF);
      if (nl < 0) {
        if (buf.length > 256) throw new MultipartError("malformed multipart boundary line");
        return false;
      }
      buf = buf.subarray(nl + 2);
      state = "headers";
      return true;
    }
    if (state === "headers") {
      const end = buf.subarray(0, 2).equals(CRLF) ? 0 : buf.indexOf(HEADERS_END);
      if (end < 0) {
        if (buf.length > MAX_HEADER_BLOCK) throw new MultipartError("a part's headers are too large");
        return false;
      }
      const info = parseHeaders(buf.subarray(0, end).toString("utf8"));
      buf = buf.subarray(end === 0 ? 2 : end + 4);
      if (++parts > maxParts) throw new MultipartError(`more than ${maxParts} parts`);
      body = new PassThrough();
      body.on("error", () => {}); // reported to the part's reader, or through our own rejection
      handler = onPart(info, body);
      handler.catch(() => {});
      state = "body";
      return true;
    }
    if (state === "body") {
      const i = buf.indexOf(delim);
      if (i < 0) {
        const safe = buf.length - (delim.length - 1);
        if (safe > 0) {
          const chunk = buf.subarray(0, safe);
          buf = buf.subarray(safe);
          await feed(chunk);
        }
        return false;
      }
      await feed(buf.subarray(0, i));
      buf = buf.subarray(i + delim.length);
      body?.end();
      await handler;
      body = undefined;
      handler = undefined;
      state = "after";
      return true;
    }
    return false;
  };

  try {
    for await (const chunk of input) {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      while (await step()) {
        // parse everything the buffer holds
      }
      if (state === "done") break;
    }
    if (state !== "done") throw new MultipartError("the multipart body ended early");
  } catch (e) {
    body?.destroy(e instanceof Error ? e : new Error(String(e)));
    await handler?.catch(() => {});
    throw e;
  }
}
