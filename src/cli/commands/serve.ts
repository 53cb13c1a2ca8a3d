import { promises as fs } from "node:fs";
import { totalmem } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { usageError } from "../../core/errors.js";
import { parseHumanSizeMiB } from "../../core/sizes.js";
import { generateApiKey } from "../../server/auth.js";
import { e2bSurface } from "../../e2b/index.js";
import { startDaemon } from "../../server/daemon.js";
import { DEFAULT_MAX_UPLOAD } from "../../server/files-handler.js";
import { info, printLine } from "../ui/output.js";
import { sanitize } from "../ui/sanitize.js";
import { hypervisorHelp, parseHypervisor } from "../../hypervisor/index.js";
import type { CliContext } from "../context.js";
import { wholeNumber } from "../parse.js";
import { DEFAULT_READY_TIMEOUT_S, parseReadyTimeout } from "../vm-options.js";

interface ServeOpts {
  socket?: string;
  listen?: { host: string; port: number };
  apiKeyFile?: string;
  stopVmsOnExit?: boolean;
  maxVms: number;
  maxMemory?: number;
  maxUpload?: number;
  hypervisor: ReturnType<typeof parseHypervisor>;
  readyTimeout: number;
  json?: boolean;
  e2b?: boolean;
}

function parseListen(v: string): { host: string; port: number } {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-f:]+\]|localhost):(\d{1,5})$/i.exec(v);
  const port = Number(m?.[2]);
  if (!m || port > 65535)
    throw usageError(`invalid --listen ${JSON.stringify(v)}: expected HOST:PORT, e.g. 127.0.0.1:7878`);
  return { host: (m[1] as string).replace(/^\[|\]$/g, ""), port };
}

function sizeMiB(flag: string) {
  return (v: string): number => {
    const r = parseHumanSizeMiB(v);
    if (typeof r === "string" || r < 1) throw usageError(`invalid ${flag} ${JSON.stringify(v)}: ${r}`);
    return r;
  };
}

/** A key file: one line, 16 to 512 printable characters. */
async function readApiKey(path: string): Promise<string> {
  const text = await fs.readFile(path, "utf8").catch((e: NodeJS.ErrnoException) => {
    throw usageError(`cannot read --api-key-file ${sanitize(path)}: ${e.code ?? e.message}`);
  });
  const key = text.trim();
  if (!/^[\x21-\x7e]{16,512}$/.test(key))
    throw usageError("--api-key-file must hold one key of 16 to 512 printable characters, no spaces");
  return key;
}

export function registerServe(program: Command, ctx: CliContext): void {
  program
    .command("serve")
    .description("Run the per-host daemon: an HTTP API for templates, VMs, exec and files")
    .option("--socket <path>", "unix socket to listen on (default: <data>/mvmd.sock, mode 0600)")
    .option("--listen <host:port>", "also listen on TCP; every request then needs the API key", parseListen)
    .option("--api-key-file <path>", "the API key for TCP clients (default: generate one and print it once)")
    .option(
      "--stop-vms-on-exit",
      "stop the VMs this daemon started when it exits (default: they keep running)",
    )
    .option("--max-vms <n>", "most VMs on this host at once", wholeNumber("--max-vms", 1, 4096), 64)
    .option(
      "--max-memory <size>",
      "most guest memory on this host, e.g. 8G (default: 80% of RAM)",
      sizeMiB("--max-memory"),
    )
    .option("--max-upload <size>", "largest file upload, e.g. 512M (default 1G)", sizeMiB("--max-upload"))
    .option("--hypervisor <h>", hypervisorHelp(), parseHypervisor, "auto")
    .option(
      "--ready-timeout <s>",
      "seconds a new VM may take until every health check passes",
      parseReadyTimeout,
      DEFAULT_READY_TIMEOUT_S,
    )
    .option(
      "--e2b",
      "also serve E2B's API (sandboxes from snapshotted templates) for the official E2B SDKs; needs --listen",
    )
    .option("--json", "print one JSON line {socket, listen, api_key?, e2b_url?} once listening")
    .addHelpText(
      "after",
      "\nThe API is described by GET /openapi.json (and docs/sdk.md). The unix socket needs no key: its\nfile mode (0600) limits it to this user. On TCP every request except GET /v1/health needs\n'Authorization: Bearer <key>'. VMs started through the API are ordinary VMs ('mvmctl ls', 'down');\na VM's TTL is enforced by the daemon. SIGTERM or SIGINT stops the daemon; its VMs keep running\nunless --stop-vms-on-exit, and a daemon started again picks them up.\n\nGET /v1/events streams what happens (VMs created, ready, paused, resumed, exited, killed, expired;\ntemplate pulls); POST /v1/templates/pull pulls a template from a registry with the daemon's\ncredentials. While it runs, 'mvmctl up -d', 'ls', 'down', 'exec', 'cp' and 'logs' go through it\n(--no-daemon: not). Fleets: docs/fleet.md.\n\nWith --e2b, E2B programs run unchanged against this host (docs/e2b.md):\n  E2B_API_URL=http://HOST:PORT E2B_SANDBOX_URL=http://HOST:PORT E2B_API_KEY=<key>\nand a template name (or NAME:TAG) as the template id. E2B requests need the key in X-API-Key on\nevery listener, the unix socket included.",
    )
    .action(async (opts: ServeOpts) => {
      if (opts.e2b && !opts.listen)
        throw usageError("--e2b serves E2B's SDKs over HTTP: add --listen HOST:PORT (e.g. 127.0.0.1:7878)");
      let apiKey: string | undefined;
      let generated = false;
      if (opts.apiKeyFile !== undefined) {
        if (!opts.listen) throw usageError("--api-key-file is for --listen (the unix socket needs no key)");
        apiKey = await readApiKey(opts.apiKeyFile);
      } else if (opts.listen) {
        apiKey = generateApiKey();
        generated = true;
      }
      const socket = opts.socket ?? join(ctx.paths.root, "mvmd.sock");
      const daemon = await startDaemon({
        paths: ctx.paths,
        store: ctx.store,
        socket,
        ...(opts.listen ? { listen: opts.listen } : {}),
        ...(apiKey !== undefined ? { apiKey } : {}),
        hypervisor: opts.hypervisor,
        readyTimeoutMs: opts.readyTimeout * 1000,
        limits: {
          maxVms: opts.maxVms,
          maxMemMib: opts.maxMemory ?? Math.floor((totalmem() / 1048576) * 0.8),
        },
        maxUpload: opts.maxUpload !== undefined ? opts.maxUpload * 1048576 : DEFAULT_MAX_UPLOAD,
        reaperIntervalMs: 1000,
        keepVms: true,
        onLog: (l) => info(sanitize(l)),
        ...(opts.e2b && apiKey !== undefined
          ? { surface: (vms) => e2bSurface(vms, { apiKey, log: (l) => info(sanitize(l)) }) }
          : {}),
      });
      const listen = opts.listen ? `${opts.listen.host}:${daemon.port}` : null;
      const host = opts.listen?.host.includes(":") ? `[${opts.listen.host}]` : opts.listen?.host;
      const e2bUrl = opts.e2b && listen ? `http://${host}:${daemon.port}` : undefined;
      // One line, not redacted: this is the one place the generated key is shown.
      if (opts.json)
        process.stdout.write(
          `${JSON.stringify({ socket, listen, ...(generated ? { api_key: apiKey } : {}), ...(e2bUrl ? { e2b_url: e2bUrl } : {}) })}\n`,
        );
      else {
        printLine(`Listening on ${socket}${listen ? ` and http://${listen}` : ""}`);
        if (generated) printLine(`API key (shown once): ${apiKey}`);
        if (e2bUrl) printLine(`E2B API: E2B_API_URL=${e2bUrl} E2B_SANDBOX_URL=${e2bUrl}`);
      }
      let stopping = false;
      const stop = (sig: NodeJS.Signals) => {
        if (stopping) return;
        stopping = true;
        info(`${sig}: stopping the daemon${opts.stopVmsOnExit ? " and its VMs" : ""}`);
        daemon.close({ stopVms: Boolean(opts.stopVmsOnExit) }).then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.on("SIGTERM", stop);
      process.on("SIGINT", stop);
      await new Promise(() => {});
    });
}
