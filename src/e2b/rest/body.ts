import type { IncomingMessage } from "node:http";
import { readJsonObject } from "../../server/body.js";

/** Largest JSON body E2B's REST API reads (a create request with metadata and envVars fits easily). */
export const MAX_E2B_BODY = 256 * 1024;

/** The JSON object of a request, or {} when it has no body (optional bodies: pause, connect). */
export async function readE2bBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const length = req.headers["content-length"];
  const chunked = req.headers["transfer-encoding"] !== undefined;
  if ((length === undefined && !chunked) || length === "0") return {};
  return readJsonObject(req, MAX_E2B_BODY);
}
