import { promises as fs } from "node:fs";
import { totalmem, tmpdir } from "node:os";
import { join } from "node:path";
import type { Endpoint } from "./transport.js";

// The SDK without a daemon: the same API server, VM service and TTL reaper run inside the caller's
// process, on a unix socket in a private temporary directory (mode 0700) that only this process
// uses, so every call goes through exactly the code a daemon runs. VMs are ordinary VMs of the data
// dir: they keep running when the process exits (`mvmctl ls`, `down` and a daemon see them), and
// their TTLs are enforced only while a client like this one or `mvmctl serve` runs for that dir.

export interface InProcessOptions {
  /** The data dir whose templates and VMs this client uses (like MVM_DATA_DIR). */
  dataDir: string;
  hypervisor?: "auto" | "qemu" | "firecracker";
  /** How long a new VM may take until every health check passes (default 300 s, as `mvmctl serve`). */
  readyTimeoutMs?: number;
  /** Most VMs and guest memory at once on this host (defaults as `mvmctl serve`). */
  maxVms?: number;
  maxMemMib?: number;
}

export interface InProcessServer {
  endpoint: Endpoint;
  close(opts: { stopVms: boolean }): Promise<void>;
}

export async function startInProcess(opts: InProcessOptions): Promise<InProcessServer> {
  const [{ startDaemon }, { DataPaths }, { TemplateStore }, { DEFAULT_MAX_UPLOAD }] = await Promise.all([
    import("../server/daemon.js"),
    import("../store/paths.js"),
    import("../store/templates.js"),
    import("../server/files-handler.js"),
  ]);
  const paths = new DataPaths(opts.dataDir);
  const dir = await fs.mkdtemp(join(tmpdir(), "mvm-sdk-"));
  await fs.chmod(dir, 0o700);
  try {
    const daemon = await startDaemon({
      paths,
      store: new TemplateStore(paths),
      socket: join(dir, "api.sock"),
      hypervisor: opts.hypervisor ?? "auto",
      readyTimeoutMs: opts.readyTimeoutMs ?? 300_000,
      limits: {
        maxVms: opts.maxVms ?? 64,
        maxMemMib: opts.maxMemMib ?? Math.floor((totalmem() / 1048576) * 0.8),
      },
      maxUpload: DEFAULT_MAX_UPLOAD,
      reaperIntervalMs: 1000,
      unref: true,
    });
    return {
      endpoint: { socket: daemon.socket },
      async close(c) {
        await daemon.close({ stopVms: c.stopVms });
        await fs.rm(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await fs.rm(dir, { recursive: true, force: true });
    throw e;
  }
}
