import type { IncomingMessage, ServerResponse } from "node:http";
import { MvmError } from "../core/errors.js";
import { revisionProblem, templateNameProblem } from "../core/names.js";
import { tagProblem } from "../core/refs.js";
import { parseRegistryUrl, resolveRegistry } from "../registry/location.js";
import { openTransport } from "../registry/open.js";
import type { ProgressSink } from "../registry/progress.js";
import { type PullResult, pullRevision } from "../registry/pull.js";
import { ApiError } from "./api-error.js";
import { readJsonObject, sendJson } from "./body.js";
import type { EventHub } from "./events.js";
import type { VmService } from "./vm-service.js";

// POST /v1/templates/pull: the same pull as `mvmctl template pull` (every file checked against its
// SHA-256 while it streams in, staged and renamed into place, `current` moved last), from an s3:// or
// oci:// registry named in the request, or from the daemon's own registry (MVM_TEMPLATE_REGISTRY or
// its default) when none is named. Credentials are the daemon's (its environment, Docker's config),
// never the client's; a file:// registry cannot be named by a client (the daemon would read host
// directories on its behalf). Progress goes to GET /v1/events; identical pulls running at once share
// one download.

export interface PullBody {
  template: string;
  registry?: string;
  revision?: string;
  tag?: string;
}

function bad(message: string): ApiError {
  return new ApiError(400, "invalid_request", message);
}

export function parsePull(body: Record<string, unknown>): PullBody {
  for (const k of Object.keys(body))
    if (!["template", "registry", "revision", "tag"].includes(k))
      throw bad(`unknown field ${JSON.stringify(k.slice(0, 64))}`);
  const str = (k: string, max: number): string | undefined => {
    const v = body[k];
    if (v === undefined) return undefined;
    if (typeof v !== "string" || v.length === 0 || v.length > max)
      throw bad(`${k} must be a string of 1 to ${max} characters`);
    return v;
  };
  const template = str("template", 128);
  if (template === undefined) throw bad("template is required");
  const problem = templateNameProblem(template);
  if (problem) throw bad(`invalid template name: ${problem}`);
  const out: PullBody = { template };
  const registry = str("registry", 2048);
  if (registry !== undefined) out.registry = registry;
  const revision = str("revision", 128);
  if (revision !== undefined) {
    const p = revisionProblem(revision);
    if (p) throw bad(`invalid revision: ${p}`);
    out.revision = revision;
  }
  const tag = str("tag", 128);
  if (tag !== undefined) {
    const p = tagProblem(tag);
    if (p) throw bad(`invalid tag: ${p}`);
    out.tag = tag;
  }
  return out;
}

/** Registry failures as API errors: the registry is a third party, so its faults are 502s. */
function pullError(e: unknown): unknown {
  if (!(e instanceof MvmError)) return e;
  switch (e.kind) {
    case "usage":
      return new ApiError(400, "invalid_request", e.message);
    case "not_found":
      return new ApiError(404, "not_found", e.message);
    case "network":
    case "timeout":
      return new ApiError(502, "registry_error", e.message);
    case "corrupt":
    case "integrity":
    case "newer_schema":
      return new ApiError(502, "registry_corrupt", e.message);
    case "locked":
      return new ApiError(409, "locked", e.message);
    default:
      return e;
  }
}

/** Progress as events: at most a few per second, plus one per finished file. */
function eventProgress(hub: EventHub, template: string): ProgressSink {
  let total = 0;
  let done = 0;
  let last = 0;
  const emit = (force: boolean) => {
    const now = Date.now();
    if (!force && now - last < 250) return;
    last = now;
    hub.publish("template.pull.progress", { template, bytes: done, total_bytes: total });
  };
  return {
    start(t) {
      total = t;
      done = 0;
      emit(true);
    },
    add(n) {
      done += n;
      emit(false);
    },
    fileDone() {
      emit(true);
    },
    finish() {},
  };
}

export class TemplatePuller {
  private readonly running = new Map<string, Promise<PullResult>>();

  constructor(
    private readonly vms: VmService,
    private readonly hub: EventHub,
  ) {}

  pull(body: PullBody): Promise<PullResult> {
    const loc =
      body.registry !== undefined
        ? parseRegistryUrl(body.registry)
        : resolveRegistry(undefined, this.vms.paths.registry);
    if (body.registry !== undefined && loc.kind === "file")
      throw bad("a file:// registry cannot be named through the API; use s3:// or oci://");
    const key = JSON.stringify([body.template, loc, body.revision ?? null, body.tag ?? null]);
    const same = this.running.get(key);
    if (same) return same;
    const p = this.run(body, loc).finally(() => this.running.delete(key));
    this.running.set(key, p);
    return p;
  }

  private async run(body: PullBody, loc: ReturnType<typeof parseRegistryUrl>): Promise<PullResult> {
    const transport = await openTransport(loc).catch((e: unknown) => {
      throw pullError(e);
    });
    const { template } = body;
    this.hub.publish("template.pull.started", { template, registry: transport.display });
    try {
      const result = await pullRevision(this.vms.store, transport, {
        template,
        ...(body.revision ? { revision: body.revision } : {}),
        ...(body.tag ? { tag: body.tag } : {}),
        progress: eventProgress(this.hub, template),
      });
      this.hub.publish("template.pull.done", {
        template,
        revision: result.revision,
        digest: result.digest,
        downloaded_bytes: result.downloaded_bytes,
        already_present: result.already_present,
      });
      return result;
    } catch (e) {
      const err = pullError(e);
      this.hub.publish("template.pull.failed", {
        template,
        message: err instanceof Error ? err.message : "pull failed",
      });
      throw err;
    } finally {
      await transport.close();
    }
  }
}

export async function handlePull(puller: TemplatePuller, req: IncomingMessage, res: ServerResponse) {
  const body = parsePull(await readJsonObject(req));
  sendJson(res, 200, await puller.pull(body));
}
