import { MvmError } from "../core/errors.js";
import { identProblem } from "../core/names.js";
import { resolveRef } from "../store/refs.js";
import { ApiError } from "../server/api-error.js";
import type { VmService, VmView } from "../server/vm-service.js";
import { ENVD_VERSION } from "./envd/index.js";
import { badRequest, E2bError, sandboxNotFound } from "./errors.js";
import {
  newAccessToken,
  newSandboxId,
  readSandboxRecord,
  type SandboxRecord,
  writeSandboxRecord,
} from "./sandbox-record.js";
import type { ListQuery, NewSandbox } from "./validate.js";

// E2B's sandboxes over the daemon's VM service: a sandbox is a VM started from a snapshotted
// template whose directory holds an e2b.json. Its timeout is the VM's TTL, which the daemon's reaper
// enforces; killing a sandbox stops its VM.

export interface Sandbox {
  record: SandboxRecord;
  vm: VmView;
}

/** Who created a sandbox, in E2B's (deprecated, still required) clientID field. */
const CLIENT_ID = "mvmctl";
/** endAt of a sandbox whose TTL was cleared through the daemon's own API. */
const NEVER = "9999-12-31T23:59:59.000Z";

export class Sandboxes {
  constructor(readonly vms: VmService) {}

  /** Starts a sandbox and resolves once its guest is ready. */
  async create(req: NewSandbox, signal?: AbortSignal): Promise<Sandbox> {
    const revision = await resolveRef(this.vms.store, req.template).catch((e: unknown) => {
      throw this.templateMissing(e, req.templateText);
    });
    const record: SandboxRecord = {
      sandboxId: newSandboxId(),
      templateId: req.template.name,
      alias: req.templateText,
      envdAccessToken: newAccessToken(),
      metadata: req.metadata,
      envVars: req.envVars,
    };
    const vm = await this.vms
      .create(
        {
          template: req.template.name,
          ...(revision !== undefined ? { revision } : {}),
          name: record.sandboxId,
          ports: [],
          env: req.envVars,
          labels: {},
          ttl_ms: req.timeoutS * 1000,
        },
        signal,
      )
      .catch((e: unknown) => {
        throw this.templateMissing(e, req.templateText);
      });
    try {
      await writeSandboxRecord(this.vms.paths.vm(record.sandboxId), record);
    } catch (e) {
      await this.vms.kill(record.sandboxId).catch(() => {});
      throw e;
    }
    return { record, vm };
  }

  private templateMissing(e: unknown, text: string): unknown {
    if (e instanceof ApiError && e.code === "template_not_found")
      return new E2bError(
        404,
        `template ${JSON.stringify(text)} not found on this host`,
        "template_not_found",
      );
    if (e instanceof MvmError && e.kind === "not_found")
      return new E2bError(404, e.message, "template_not_found");
    return e;
  }

  /** The sandbox of this id, or undefined (no such VM, a VM that is not a sandbox, or a dead one). */
  async find(id: string): Promise<Sandbox | undefined> {
    if (identProblem(id)) return undefined;
    const record = await readSandboxRecord(this.vms.paths.vm(id));
    if (!record || record.sandboxId !== id) return undefined;
    const vm = await this.vms.get(id).catch((e: unknown) => {
      if (e instanceof ApiError && e.status === 404) return undefined;
      throw e;
    });
    return vm ? { record, vm } : undefined;
  }

  async get(id: string): Promise<Sandbox> {
    const sb = await this.find(id);
    if (!sb) throw sandboxNotFound(id);
    return sb;
  }

  async all(): Promise<Sandbox[]> {
    const out: Sandbox[] = [];
    for (const vm of await this.vms.list({})) {
      const record = await readSandboxRecord(this.vms.paths.vm(vm.name));
      if (record && record.sandboxId === vm.name) out.push({ record, vm });
    }
    return out;
  }

  async kill(id: string): Promise<void> {
    await this.get(id);
    await this.vms.kill(id).catch((e: unknown) => {
      if (e instanceof ApiError && e.status === 404) throw sandboxNotFound(id);
      throw e;
    });
  }

  /** The sandbox ends `seconds` from now (0: at the reaper's next pass). */
  async setTimeout(id: string, seconds: number): Promise<void> {
    await this.get(id);
    await this.vms.setTtl(id, seconds * 1000);
  }

  /** A running sandbox for a second client; a timeout extends its TTL, never shortens it. */
  async connect(id: string, seconds: number | undefined): Promise<Sandbox> {
    const sb = await this.get(id);
    if (seconds === undefined) return sb;
    const end = sb.vm.expires_at === null ? Number.POSITIVE_INFINITY : Date.parse(sb.vm.expires_at);
    if (Date.now() + seconds * 1000 <= end) return sb;
    return { record: sb.record, vm: await this.vms.setTtl(id, seconds * 1000) };
  }

  /** One page of the sandboxes matching a query, and the cursor of the next page. */
  async list(q: ListQuery): Promise<{ page: Sandbox[]; nextToken?: string; running: number }> {
    // Every sandbox here runs: this host cannot pause one.
    const matching = q.states.has("running")
      ? (await this.all()).filter(
          (sb) =>
            Object.entries(q.metadata).every(([k, v]) => sb.record.metadata[k] === v) &&
            (q.template === undefined ||
              q.template === sb.record.templateId ||
              q.template === sb.record.alias) &&
            (q.startedAfter === undefined || Date.parse(sb.vm.created_at) >= q.startedAfter),
        )
      : [];
    const key = (sb: Sandbox): [number, string] => [Date.parse(sb.vm.created_at), sb.record.sandboxId];
    const before = (a: [number, string], b: [number, string]) =>
      a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
    const sorted = matching.sort((x, y) => {
      const [a, b] = [key(x), key(y)];
      const asc = before(a, b) ? -1 : before(b, a) ? 1 : 0;
      return q.order === "asc" ? asc : -asc;
    });
    let start = 0;
    if (q.nextToken !== undefined) {
      const cursor = decodeCursor(q.nextToken);
      start = sorted.findIndex((sb) =>
        q.order === "asc" ? before(cursor, key(sb)) : before(key(sb), cursor),
      );
      if (start < 0) start = sorted.length;
    }
    const page = sorted.slice(start, start + q.limit);
    const last = page.at(-1);
    return {
      page,
      ...(last && start + q.limit < sorted.length ? { nextToken: encodeCursor(key(last)) } : {}),
      running: matching.length,
    };
  }
}

function encodeCursor(k: [number, string]): string {
  return Buffer.from(JSON.stringify(k)).toString("base64url");
}

function decodeCursor(token: string): [number, string] {
  try {
    const v = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as unknown;
    if (Array.isArray(v) && v.length === 2 && Number.isFinite(v[0]) && typeof v[1] === "string")
      return [v[0] as number, v[1] as string];
  } catch {
    // fall through
  }
  throw badRequest("nextToken is not a cursor this host issued");
}

/** E2B's `Sandbox`: what create, connect and resume answer. */
export function sandboxView(sb: Sandbox): Record<string, unknown> {
  return {
    templateID: sb.record.templateId,
    sandboxID: sb.record.sandboxId,
    alias: sb.record.alias,
    clientID: CLIENT_ID,
    envdVersion: ENVD_VERSION,
    envdAccessToken: sb.record.envdAccessToken,
    trafficAccessToken: null,
    domain: null,
  };
}

/** E2B's `ListedSandbox`. */
export function listedView(sb: Sandbox): Record<string, unknown> {
  return {
    templateID: sb.record.templateId,
    alias: sb.record.alias,
    sandboxID: sb.record.sandboxId,
    clientID: CLIENT_ID,
    startedAt: sb.vm.created_at,
    endAt: sb.vm.expires_at ?? NEVER,
    cpuCount: sb.vm.cpus,
    memoryMB: sb.vm.mem_mib,
    diskSizeMB: 0,
    metadata: sb.record.metadata,
    state: "running",
    envdVersion: ENVD_VERSION,
    volumeMounts: [],
  };
}

/** E2B's `SandboxDetail`: GET /sandboxes/{id}. */
export function detailView(sb: Sandbox): Record<string, unknown> {
  return {
    ...listedView(sb),
    envdAccessToken: sb.record.envdAccessToken,
    domain: null,
    allowInternetAccess: null,
    lifecycle: { autoResume: false, onTimeout: "kill" },
  };
}
