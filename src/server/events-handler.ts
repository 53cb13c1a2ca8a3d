import type { IncomingMessage, ServerResponse } from "node:http";
import { ApiError } from "./api-error.js";
import { EVENT_TYPES, type EventHub, type EventType } from "./events.js";

// GET /v1/events: newline-delimited JSON, one event per line, for as long as the client stays. The
// first line, {"type":"subscribed"}, says the subscription is live (events from then on are delivered).
// `?type=vm.ready&type=vm.exited` (or comma-separated) keeps only those types. A client that falls
// behind by more than its queue gets a last {"type":"overflow"} line and the stream ends; it
// reconnects and re-reads state (GET /v1/vms) to catch up.

/** How long a dropped client has to take its last line before its connection is cut. */
const OVERFLOW_GRACE_MS = 5000;

function typeFilter(q: URLSearchParams): ReadonlySet<EventType> | undefined {
  const asked = q
    .getAll("type")
    .flatMap((v) => v.split(","))
    .filter(Boolean);
  if (asked.length === 0) return undefined;
  for (const t of asked)
    if (!(EVENT_TYPES as readonly string[]).includes(t))
      throw new ApiError(
        400,
        "invalid_request",
        `unknown event type ${JSON.stringify(t.slice(0, 64))} (one of ${EVENT_TYPES.join(", ")})`,
      );
  return new Set(asked as EventType[]);
}

export function handleEvents(
  hub: EventHub,
  _req: IncomingMessage,
  res: ServerResponse,
  q: URLSearchParams,
): Promise<void> {
  const types = typeFilter(q);
  res.writeHead(200, { "content-type": "application/x-ndjson", "cache-control": "no-store" });
  const sub = hub.subscribe({
    write: (line) => res.write(line),
    overflow: () => {
      res.end(
        `${JSON.stringify({ type: "overflow", message: "this client fell too far behind; reconnect and re-read state" })}\n`,
      );
      setTimeout(() => res.destroy(), OVERFLOW_GRACE_MS).unref();
    },
    ...(types ? { types } : {}),
  });
  res.on("drain", sub.drain);
  res.write(`${JSON.stringify({ type: "subscribed" })}\n`);
  return new Promise((resolve) => {
    res.on("close", () => {
      sub.close();
      resolve();
    });
  });
}
