import type { IncomingMessage } from "node:http";
import { MvmError } from "./errors.js";
import { type Endpoint, send } from "./transport.js";
import type { HostEvent, HostEventType } from "./types.js";

// The daemon's event stream (GET /v1/events) as an async iterable. The request starts when the
// stream is created; `opened` resolves once the daemon has registered it (events from then on are
// delivered). Aborting (the signal given, or `close()`) ends the iteration without an error; a
// stream the daemon dropped for falling behind throws MvmError `events_overflow`.

const MAX_LINE = 1024 * 1024;

export class EventStream implements AsyncIterable<HostEvent> {
  /** Resolves once the subscription is live; rejects if the daemon refused or could not be reached. */
  readonly opened: Promise<void>;
  private readonly abort = new AbortController();
  private readonly response: Promise<IncomingMessage>;

  constructor(endpoint: Promise<Endpoint>, opts: { types?: HostEventType[]; signal?: AbortSignal } = {}) {
    if (opts.signal?.aborted) this.abort.abort();
    else opts.signal?.addEventListener("abort", () => this.abort.abort(), { once: true });
    this.response = endpoint.then((ep) =>
      send(ep, {
        method: "GET",
        path: "/v1/events",
        query: { type: opts.types },
        accept: "application/x-ndjson",
        signal: this.abort.signal,
      }),
    );
    this.opened = this.response.then(() => {});
    this.opened.catch(() => {}); // the iterator reports it too
  }

  /** Ends the stream (the iteration finishes normally). */
  close(): void {
    this.abort.abort();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<HostEvent> {
    let res: IncomingMessage;
    try {
      res = await this.response;
    } catch (e) {
      if (this.abort.signal.aborted) return;
      throw e;
    }
    let buf = "";
    try {
      for await (const chunk of res) {
        buf += (chunk as Buffer).toString("utf8");
        let nl = buf.indexOf("\n");
        while (nl >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          nl = buf.indexOf("\n");
          if (!line) continue;
          let ev: { type?: unknown; message?: unknown };
          try {
            ev = JSON.parse(line) as { type?: unknown; message?: unknown };
          } catch {
            throw new MvmError("bad_response", "an event line is not JSON", res.statusCode ?? 0);
          }
          if (ev.type === "subscribed") continue;
          if (ev.type === "overflow")
            throw new MvmError(
              "events_overflow",
              String(ev.message ?? "the daemon dropped this event stream"),
            );
          yield ev as unknown as HostEvent;
        }
        if (buf.length > MAX_LINE) throw new MvmError("bad_response", "an event line is too long");
      }
    } catch (e) {
      if (this.abort.signal.aborted) return;
      if (e instanceof MvmError) throw e;
      throw new MvmError("connection_failed", `the event stream broke: ${(e as Error).message}`, 0, {
        cause: e,
      });
    } finally {
      res.destroy();
    }
    if (!this.abort.signal.aborted)
      throw new MvmError("connection_failed", "the daemon ended the event stream");
  }
}
