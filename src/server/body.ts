import type { IncomingMessage, ServerResponse } from "node:http";
import { ApiError } from "./api-error.js";

/** Largest JSON request body the API reads. */
export const MAX_JSON_BODY = 1024 * 1024;

/** Reads a JSON object body, refusing anything larger than `max` bytes before buffering it. */
export async function readJsonObject(
  req: IncomingMessage,
  max = MAX_JSON_BODY,
): Promise<Record<string, unknown>> {
  const type = req.headers["content-type"] ?? "";
  if (!/^application\/json\b/i.test(type))
    throw new ApiError(415, "unsupported_media_type", "the request body must be application/json");
  const declared = Number(req.headers["content-length"]);
  if (Number.isFinite(declared) && declared > max)
    throw new ApiError(413, "body_too_large", `the request body exceeds ${max} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > max) {
      req.destroy();
      throw new ApiError(413, "body_too_large", `the request body exceeds ${max} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  let v: unknown;
  try {
    v = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new ApiError(400, "invalid_json", "the request body is not valid JSON");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v))
    throw new ApiError(400, "invalid_request", "the request body must be a JSON object");
  return v as Record<string, unknown>;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, e: ApiError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, e.status, { error: { code: e.code, message: e.message } });
}
