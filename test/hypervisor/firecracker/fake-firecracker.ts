// A wire-level stand-in for the `firecracker` binary, for hosts without KVM. It is a real process that
// binds a real unix socket given by `--api-sock` and speaks Firecracker's REST API: it validates each
// request against the documented API (paths, methods, required fields, unknown fields, types, the
// pre-boot/post-boot rules, snapshot/load only on a fresh process) and answers like Firecracker: 204,
// 200 with JSON, or 400 with `{"fault_message": "…"}`. It opens the files a request names, relative to
// its working directory as Firecracker does, binds the vsock socket, and writes snapshot files.
//
// Knobs (environment): FAKE_FC_VERSION (default 1.12.1), FAKE_FC_LOG (append one JSON line per
// request), FAKE_FC_FAIL_START=1 (400 on InstanceStart), FAKE_FC_NO_SOCKET=1 (never bind the API
// socket), FAKE_FC_EXIT_EARLY=<code> (exit before binding), FAKE_FC_DIE_ON=<path> (exit without an
// answer when a request for <path> arrives), FAKE_FC_STALL_ON=<path> (never answer it).

import {
  appendFileSync,
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { connect as connectNet, createServer as createNetServer, type Server } from "node:net";

const env = process.env;
const VERSION = env.FAKE_FC_VERSION ?? "1.12.1";

type Ty = "string" | "boolean" | "integer" | "object" | "array";
interface Field {
  type: Ty;
  required?: boolean;
  enum?: string[];
  min?: number;
  max?: number;
  fields?: Record<string, Field>; // object
  items?: Record<string, Field>; // array of objects
}

class Fault extends Error {}
/** A failed snapshot load: Firecracker reports it, then ends the process (its state may be half restored). */
class FatalFault extends Fault {}

function versionAtLeast(min: [number, number]): boolean {
  const [a = 0, b = 0] = VERSION.split(".").map(Number);
  return a > min[0] || (a === min[0] && b >= min[1]);
}

// The request bodies of Firecracker's swagger definition that mvmctl uses (plus the usual neighbours).
const SCHEMAS: Record<string, Record<string, Field>> = {
  Logger: {
    log_path: { type: "string" },
    level: { type: "string", enum: ["Error", "Warning", "Info", "Debug", "Trace", "Off"] },
    show_level: { type: "boolean" },
    show_log_origin: { type: "boolean" },
    module: { type: "string" },
  },
  BootSource: {
    kernel_image_path: { type: "string", required: true },
    boot_args: { type: "string" },
    initrd_path: { type: "string" },
  },
  MachineConfiguration: {
    vcpu_count: { type: "integer", required: true, min: 1, max: 32 },
    mem_size_mib: { type: "integer", required: true, min: 1 },
    smt: { type: "boolean" },
    track_dirty_pages: { type: "boolean" },
    cpu_template: { type: "string" },
    huge_pages: { type: "string", enum: ["None", "Transparent", "2M"] },
  },
  Drive: {
    drive_id: { type: "string", required: true },
    is_root_device: { type: "boolean", required: true },
    path_on_host: { type: "string" },
    is_read_only: { type: "boolean" },
    partuuid: { type: "string" },
    cache_type: { type: "string", enum: ["Unsafe", "Writeback"] },
    io_engine: { type: "string", enum: ["Sync", "Async"] },
    rate_limiter: { type: "object", fields: {} },
    socket: { type: "string" },
  },
  NetworkInterface: {
    iface_id: { type: "string", required: true },
    host_dev_name: { type: "string", required: true },
    guest_mac: { type: "string" },
    mtu: { type: "integer", min: 68, max: 65535 },
    rx_rate_limiter: { type: "object", fields: {} },
    tx_rate_limiter: { type: "object", fields: {} },
  },
  Vsock: {
    guest_cid: { type: "integer", required: true, min: 3 },
    uds_path: { type: "string", required: true },
    vsock_id: { type: "string" },
  },
  InstanceActionInfo: {
    action_type: {
      type: "string",
      required: true,
      enum: ["FlushMetrics", "InstanceStart", "SendCtrlAltDel"],
    },
  },
  Vm: { state: { type: "string", required: true, enum: ["Paused", "Resumed"] } },
  SnapshotCreateParams: {
    snapshot_type: { type: "string", enum: ["Full", "Diff"] },
    snapshot_path: { type: "string", required: true },
    mem_file_path: { type: "string", required: true },
  },
  SnapshotLoadParams: {
    snapshot_path: { type: "string", required: true },
    mem_file_path: { type: "string" },
    mem_backend: {
      type: "object",
      fields: {
        backend_type: { type: "string", required: true, enum: ["File", "Uffd"] },
        backend_path: { type: "string", required: true },
      },
    },
    enable_diff_snapshots: { type: "boolean" },
    track_dirty_pages: { type: "boolean" },
    resume_vm: { type: "boolean" },
    // Added in Firecracker 1.12: older versions reject it as an unknown field.
    ...(versionAtLeast([1, 12])
      ? {
          network_overrides: {
            type: "array",
            items: {
              iface_id: { type: "string", required: true },
              host_dev_name: { type: "string", required: true },
            },
          } satisfies Field,
        }
      : {}),
  },
};

function deserializeFault(msg: string): Fault {
  return new Fault(`An error occurred when deserializing the json body of a request: ${msg}.`);
}

function check(fields: Record<string, Field>, v: unknown, where = ""): Record<string, unknown> {
  if (!v || typeof v !== "object" || Array.isArray(v))
    throw deserializeFault(`invalid type: expected struct${where}`);
  const obj = v as Record<string, unknown>;
  for (const k of Object.keys(obj))
    if (!(k in fields))
      throw deserializeFault(
        `unknown field \`${k}\`, expected one of ${Object.keys(fields)
          .map((f) => `\`${f}\``)
          .join(", ")}`,
      );
  for (const [k, f] of Object.entries(fields)) {
    const val = obj[k];
    if (val === undefined || val === null) {
      if (f.required) throw deserializeFault(`missing field \`${k}\``);
      continue;
    }
    const ok =
      f.type === "integer"
        ? Number.isInteger(val)
        : f.type === "array"
          ? Array.isArray(val)
          : f.type === "object"
            ? typeof val === "object" && !Array.isArray(val)
            : typeof val === f.type;
    if (!ok) throw deserializeFault(`invalid type for \`${k}\`: ${JSON.stringify(val)}, expected ${f.type}`);
    if (f.enum && !f.enum.includes(val as string))
      throw deserializeFault(`unknown variant \`${String(val)}\`, expected one of ${f.enum.join(", ")}`);
    if (f.min !== undefined && (val as number) < f.min) throw new Fault(`${k} must be at least ${f.min}.`);
    if (f.max !== undefined && (val as number) > f.max) throw new Fault(`${k} must be at most ${f.max}.`);
    if (f.type === "object" && f.fields && Object.keys(f.fields).length) check(f.fields, val, ` in ${k}`);
    if (f.type === "array" && f.items) for (const item of val as unknown[]) check(f.items, item, ` in ${k}`);
  }
  return obj;
}

// --- the microVM model -------------------------------------------------------------------------

type State = "Not started" | "Running" | "Paused";
let state: State = "Not started";
const configured = new Set<string>(); // resources other than logger/metrics
let bootSource: Record<string, unknown> | undefined;
let machine = { vcpu_count: 1, mem_size_mib: 128 };
const drives = new Map<string, Record<string, unknown>>();
const nets = new Map<string, Record<string, unknown>>();
let vsock: Record<string, unknown> | undefined;
let vsockServer: Server | undefined;
let loggerPath: string | undefined;

function openable(path: string, what: string): void {
  try {
    closeSync(openSync(path, "r"));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Fault(
      `${what}: ${err.code === "ENOENT" ? "No such file or directory (os error 2)" : err.message}`,
    );
  }
}

function tapOpenable(name: string): void {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name))
    throw new Fault(`Open tap device failed: Invalid interface name ${name}`);
  if (!existsSync(`/sys/class/net/${name}`))
    throw new Fault(
      `Open tap device failed: Error while creating ifreq structure: No such device. Invalid TUN/TAP Backend provided by ${name}.`,
    );
}

function preBoot(): void {
  if (state !== "Not started")
    throw new Fault("The requested operation is not supported after starting the microVM.");
}

function postBoot(): void {
  if (state === "Not started")
    throw new Fault("The requested operation is not supported before starting the microVM.");
}

/**
 * Binds the vsock's host socket and answers the host-initiated handshake, as Firecracker's backend
 * does. Behind it sits a stand-in for the guest agent on port 52 that answers `ping` frames (4-byte
 * big-endian length + JSON, docs/guest-protocol.md); any other port has no listener, so the
 * connection is closed without an `OK`, as Firecracker does. With FAKE_FC_GUEST_AGENT set to the
 * unix socket of a real agent, each connection is passed through to that agent instead.
 */
function bindVsock(path: string): void {
  if (existsSync(path))
    throw new Fault(
      "Cannot create backend for vsock device: Error binding to the host-side Unix socket: Address in use (os error 98)",
    );
  const bootedAt = Date.now();
  vsockServer = createNetServer((c) => {
    let buf = Buffer.alloc(0);
    let connected = false;
    c.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!connected) {
        const nl = buf.indexOf(10);
        if (nl < 0) return;
        const m = /^CONNECT (\d+)$/.exec(buf.subarray(0, nl).toString("utf8"));
        if (!m || Number(m[1]) !== 52 || state !== "Running") return void c.destroy();
        connected = true;
        c.write("OK 1073741824\n");
        buf = buf.subarray(nl + 1);
        const agentPath = process.env.FAKE_FC_GUEST_AGENT;
        if (agentPath) {
          // A real agent (run on the host with --listen-unix) behind the port: every vsock
          // connection becomes a connection of its own to it, as with a real guest.
          c.removeAllListeners("data");
          const up = connectNet(agentPath);
          up.on("error", () => c.destroy());
          c.on("error", () => up.destroy());
          up.on("close", () => c.destroy());
          c.on("close", () => up.destroy());
          if (buf.length) up.write(buf);
          c.pipe(up);
          up.pipe(c);
          return;
        }
      }
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const n = buf.readUInt32BE(0);
        const req = JSON.parse(buf.subarray(4, 4 + n).toString("utf8")) as Record<string, unknown>;
        buf = buf.subarray(4 + n);
        const reply = guestReply(req, bootedAt);
        // Logged like API requests, so tests can check what mvmctl told the guest.
        logRequest({ method: "GUEST", path: String(req.type), body: req, status: reply.ok ? 0 : 400 });
        const body = Buffer.from(JSON.stringify(reply));
        const head = Buffer.alloc(4);
        head.writeUInt32BE(body.length, 0);
        c.write(Buffer.concat([head, body]));
      }
    });
    c.on("error", () => {});
  });
  vsockServer.listen(path);
}

/**
 * The guest agent's answers (docs/guest-protocol.md), enough for mvmctl's readiness and restore
 * path: ping, health (no checks: ready), post_restore (checks the entropy and the shape of `network`
 * like the agent does).
 */
function guestReply(req: Record<string, unknown>, bootedAt: number): Record<string, unknown> {
  const id = req.id;
  const error = (code: string, message: string) => ({ id, ok: false, error: { code, message } });
  switch (req.type) {
    case "ping":
      return {
        id,
        ok: true,
        type: "ping",
        protocol: 1,
        agent: "fake-firecracker-guest",
        uptime_ms: Date.now() - bootedAt,
      };
    case "health":
      return { id, ok: true, type: "health", ready: true, checks: [] };
    case "post_restore": {
      const raw = typeof req.entropy === "string" ? Buffer.from(req.entropy, "base64") : Buffer.alloc(0);
      if (raw.length < 16 || raw.length > 4096)
        return error("bad_request", "entropy must be 16 to 4096 bytes of base64");
      const ident = (req.identity ?? {}) as {
        hostname?: string;
        hostname_suffix?: string;
        machine_id?: string;
      };
      const net = req.network as { iface?: unknown; address?: unknown; gateway?: unknown } | undefined | null;
      if (
        net != null &&
        (typeof net !== "object" ||
          Object.keys(net).some((k) => !["iface", "address", "gateway"].includes(k)) ||
          typeof net.iface !== "string" ||
          typeof net.address !== "string" ||
          !/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(net.address) ||
          (net.gateway != null && typeof net.gateway !== "string"))
      )
        return error("bad_request", "network must be {iface, address (a.b.c.d/n), gateway?}");
      return {
        id,
        ok: true,
        type: "post_restore",
        reseeded_bytes: raw.length,
        hostname: ident.hostname ?? `fake-${ident.hostname_suffix ?? "guest"}`,
        machine_id: ident.machine_id ?? null,
        signalled_init: false,
        network: net ? { iface: net.iface, address: net.address, gateway: net.gateway ?? null } : null,
      };
    }
    default:
      return error("unsupported", `the fake guest does not answer ${String(req.type)}`);
  }
}

function serialOut(line: string): void {
  process.stdout.write(`${line}\n`);
}

interface Route {
  schema?: string;
  run: (body: Record<string, unknown>, param?: string) => unknown;
}

const ROUTES: Record<string, Route> = {
  "GET /": {
    run: () => ({ app_name: "Firecracker", id: "anonymous-instance", state, vmm_version: VERSION }),
  },
  "GET /version": { run: () => ({ firecracker_version: VERSION }) },
  "GET /machine-config": { run: () => ({ ...machine, smt: false }) },
  "PUT /logger": {
    schema: "Logger",
    run: (b) => {
      preBoot();
      if (loggerPath !== undefined) throw new Fault("Logger can only be initialized once.");
      if (typeof b.log_path === "string") openable(b.log_path, "Failed to open target file");
      loggerPath = (b.log_path as string | undefined) ?? "";
    },
  },
  "PUT /boot-source": {
    schema: "BootSource",
    run: (b) => {
      preBoot();
      openable(b.kernel_image_path as string, "The kernel file cannot be opened");
      if (typeof b.initrd_path === "string") openable(b.initrd_path, "The initrd file cannot be opened");
      bootSource = b;
      configured.add("boot-source");
    },
  },
  "PUT /machine-config": {
    schema: "MachineConfiguration",
    run: (b) => {
      preBoot();
      if (b.smt === true && (b.vcpu_count as number) > 1 && (b.vcpu_count as number) % 2 !== 0)
        throw new Fault(
          "The vCPU number is invalid! The vCPU number can only be 1 or an even number when SMT is enabled.",
        );
      machine = { vcpu_count: b.vcpu_count as number, mem_size_mib: b.mem_size_mib as number };
      configured.add("machine-config");
    },
  },
  "PUT /drives/": {
    schema: "Drive",
    run: (b, id) => {
      preBoot();
      if (b.drive_id !== id) throw new Fault("The id from the path does not match the id from the body!");
      if (typeof b.path_on_host !== "string" || typeof b.is_read_only !== "boolean")
        throw deserializeFault("missing field `path_on_host` or `is_read_only` for a virtio-block device");
      if (b.is_root_device === true)
        for (const [other, d] of drives)
          if (other !== id && d.is_root_device === true)
            throw new Fault("A root block device already exists!");
      openable(
        b.path_on_host,
        "Unable to create the virtio block device: Virtio backend error: Error manipulating the backing file",
      );
      drives.set(id as string, b);
      configured.add("drives");
    },
  },
  "PUT /network-interfaces/": {
    schema: "NetworkInterface",
    run: (b, id) => {
      preBoot();
      if (b.iface_id !== id) throw new Fault("The id from the path does not match the id from the body!");
      if (typeof b.guest_mac === "string" && !/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(b.guest_mac))
        throw deserializeFault(`invalid MAC address ${b.guest_mac}`);
      tapOpenable(b.host_dev_name as string);
      nets.set(id as string, b);
      configured.add("network-interfaces");
    },
  },
  "PUT /vsock": {
    schema: "Vsock",
    run: (b) => {
      preBoot();
      bindVsock(b.uds_path as string);
      vsock = b;
      configured.add("vsock");
    },
  },
  "PUT /actions": {
    schema: "InstanceActionInfo",
    run: (b) => {
      if (b.action_type === "FlushMetrics") return;
      if (b.action_type === "SendCtrlAltDel") {
        postBoot();
        // The guest reboots (reboot=k) and Firecracker exits, as it does for a guest-initiated reset.
        serialOut("[fake guest] ctrl-alt-del: rebooting");
        setTimeout(() => process.exit(0), 50);
        return;
      }
      preBoot();
      if (!bootSource) throw new Fault("Cannot start microvm without kernel configuration.");
      if (env.FAKE_FC_FAIL_START === "1")
        throw new Fault(
          "Start microvm error: Cannot load kernel due to invalid memory configuration or invalid kernel image: Kernel Loader: failed to load ELF kernel image",
        );
      state = "Running";
      serialOut(`[fake guest] booting: ${String(bootSource.boot_args ?? "")}`);
    },
  },
  "PATCH /vm": {
    schema: "Vm",
    run: (b) => {
      postBoot();
      state = b.state === "Paused" ? "Paused" : "Running";
    },
  },
  "PUT /snapshot/create": {
    schema: "SnapshotCreateParams",
    run: (b) => {
      postBoot();
      if (state !== "Paused")
        throw new Fault(
          "Create snapshot error: Cannot create a snapshot while the microVM is running: pause it first.",
        );
      if (b.snapshot_type === "Diff")
        throw new Fault("Create snapshot error: Diff snapshots need dirty page tracking.");
      const vmstate = {
        fake_firecracker_vmstate: 1,
        version: VERSION,
        machine,
        boot_args: bootSource?.boot_args ?? "",
        drives: [...drives.values()],
        nets: [...nets.values()],
        vsock,
      };
      writeFileSync(b.snapshot_path as string, JSON.stringify(vmstate));
      // A full memory file the size of guest RAM; pages never written stay holes, as in a sparse copy.
      writeFileSync(b.mem_file_path as string, "fake guest memory\n");
      truncateSync(b.mem_file_path as string, machine.mem_size_mib * 1024 * 1024);
    },
  },
  "PUT /snapshot/load": {
    schema: "SnapshotLoadParams",
    run: (b) => {
      preBoot();
      if (configured.size > 0)
        throw new Fault("Loading a microVM snapshot not allowed after configuring boot-specific resources.");
      if ((b.mem_backend === undefined) === (b.mem_file_path === undefined))
        throw new Fault("Load snapshot error: exactly one of mem_backend and mem_file_path must be given.");
      try {
        loadSnapshot(b);
      } catch (e) {
        if (e instanceof Fault) throw new FatalFault(e.message);
        throw e;
      }
    },
  },
};

function loadSnapshot(b: Record<string, unknown>): void {
  const backend = b.mem_backend as { backend_type: string; backend_path: string } | undefined;
  const memPath = backend?.backend_path ?? (b.mem_file_path as string);
  if (backend && backend.backend_type !== "File")
    throw new Fault("Load snapshot error: no UFFD handler listening.");
  let snap: {
    fake_firecracker_vmstate?: number;
    version?: string;
    machine: typeof machine;
    drives: Record<string, unknown>[];
    nets: Record<string, unknown>[];
    vsock?: Record<string, unknown>;
  };
  try {
    snap = JSON.parse(readFileSync(b.snapshot_path as string, "utf8"));
  } catch (e) {
    throw new Fault(`Load snapshot error: Cannot deserialize the microVM state: ${(e as Error).message}`);
  }
  if (snap.fake_firecracker_vmstate !== 1)
    throw new Fault("Load snapshot error: Cannot deserialize the microVM state: bad magic");
  if (snap.version !== VERSION)
    throw new Fault(
      `Load snapshot error: snapshot version ${snap.version} is not supported by Firecracker ${VERSION}`,
    );
  let memSize: number;
  try {
    memSize = statSync(memPath).size;
  } catch {
    throw new Fault(
      `Load snapshot error: Cannot open the memory file: No such file or directory (os error 2)`,
    );
  }
  if (memSize !== snap.machine.mem_size_mib * 1024 * 1024)
    throw new Fault("Load snapshot error: the memory file size does not match the microVM's memory size");
  // Disks are at the same relative paths as when the snapshot was taken: open them from our cwd.
  for (const d of snap.drives)
    openable(
      d.path_on_host as string,
      `Load snapshot error: Failed to restore block device ${String(d.drive_id)}`,
    );
  const overrides = (b.network_overrides as { iface_id: string; host_dev_name: string }[] | undefined) ?? [];
  for (const o of overrides)
    if (!snap.nets.some((n) => n.iface_id === o.iface_id))
      throw new Fault(
        `Load snapshot error: Invalid network override: no network interface with id ${o.iface_id}`,
      );
  for (const n of snap.nets) {
    const o = overrides.find((x) => x.iface_id === n.iface_id);
    const tap = o ? o.host_dev_name : (n.host_dev_name as string);
    tapOpenable(tap);
    nets.set(n.iface_id as string, { ...n, host_dev_name: tap });
  }
  if (snap.vsock) bindVsock(snap.vsock.uds_path as string);
  machine = snap.machine;
  for (const d of snap.drives) drives.set(d.drive_id as string, d);
  vsock = snap.vsock;
  state = b.resume_vm === true ? "Running" : "Paused";
  configured.add("snapshot");
  serialOut("[fake guest] resumed from snapshot");
}

function answer(res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    res.writeHead(status, { "Content-Length": 0 });
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

function logRequest(entry: Record<string, unknown>): void {
  if (env.FAKE_FC_LOG) appendFileSync(env.FAKE_FC_LOG, `${JSON.stringify(entry)}\n`);
}

function handle(req: IncomingMessage, res: ServerResponse, raw: string): void {
  const method = req.method ?? "";
  const url = req.url ?? "";
  let key = `${method} ${url}`;
  let param: string | undefined;
  for (const prefix of ["/drives/", "/network-interfaces/"])
    if (url.startsWith(prefix) && url.length > prefix.length) {
      key = `${method} ${prefix}`;
      param = decodeURIComponent(url.slice(prefix.length));
    }
  if (env.FAKE_FC_DIE_ON && url === env.FAKE_FC_DIE_ON) {
    process.stderr.write(`fake firecracker: dying on ${method} ${url}\n`);
    process.exit(134);
  }
  if (env.FAKE_FC_STALL_ON && url === env.FAKE_FC_STALL_ON) {
    logRequest({ method, path: url, stalled: true });
    return; // never answers: a hung VMM
  }
  const route = ROUTES[key];
  let status = 204;
  let body: unknown;
  let failed = false;
  let fatal = false;
  try {
    if (!route) throw new Fault(`Invalid request method and/or path: ${method} ${url}.`);
    let parsed: Record<string, unknown> = {};
    if (route.schema) {
      if (!raw.trim()) throw new Fault("The body of the request is empty.");
      if (!/application\/json/.test(String(req.headers["content-type"] ?? "")))
        throw new Fault("Unsupported Content-Type: expected application/json.");
      let v: unknown;
      try {
        v = JSON.parse(raw);
      } catch (e) {
        throw deserializeFault((e as Error).message);
      }
      parsed = check(SCHEMAS[route.schema] as Record<string, Field>, v);
    }
    const out = route.run(parsed, param);
    if (method === "GET") {
      status = 200;
      body = out;
    }
  } catch (e) {
    if (!(e instanceof Fault)) throw e;
    status = 400;
    body = { fault_message: e.message };
    failed = true;
    fatal = e instanceof FatalFault;
  }
  let logged: unknown = raw;
  try {
    logged = raw ? JSON.parse(raw) : null;
  } catch {
    // keep the raw text
  }
  logRequest({
    method,
    path: url,
    body: logged,
    status,
    ...(failed ? { fault: (body as { fault_message: string }).fault_message } : {}),
  });
  answer(res, status, body);
  // Firecracker ends itself after a failed snapshot load: its state may be half restored.
  if (fatal) setImmediate(() => process.exit(1));
}

/**
 * `--no-api --config-file F`: configure from the file's resources (validated like the API bodies)
 * and start at once. There is no guest CPU here, so the "guest" is judged by its first instructions:
 * an i8042 reset (`mov al, 0xfe; out 0x64, al`) makes Firecracker exit 0, anything else runs forever.
 * FAKE_FC_KVM=broken makes the VM fail to build, as on a host whose KVM does not work; FAKE_FC_KVM=hang
 * makes the guest never get anywhere, as with a KVM that accepts the VM and then stalls it.
 */
function fail(msg: string): never {
  process.stderr.write(`${msg}\n`);
  process.exit(1);
}

function runFromConfigFile(file: string): void {
  logRequest({ method: "CONFIG", path: file, body: null, status: 0 });
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch (e) {
    fail(`Configuration for VMM from one single json failed: ${(e as Error).message}`);
  }
  const resources: Record<string, string> = {
    "boot-source": "BootSource",
    "machine-config": "MachineConfiguration",
    logger: "Logger",
    vsock: "Vsock",
  };
  for (const k of Object.keys(cfg))
    if (!resources[k] && k !== "drives" && k !== "network-interfaces") fail(`unknown field \`${k}\``);
  try {
    for (const [k, schema] of Object.entries(resources))
      if (cfg[k] !== undefined) check(SCHEMAS[schema] as Record<string, Field>, cfg[k]);
  } catch (e) {
    fail((e as Error).message);
  }
  const boot = cfg["boot-source"] as { kernel_image_path?: string } | undefined;
  if (!boot?.kernel_image_path) fail("Cannot start microvm without kernel configuration.");
  let elf: Buffer;
  try {
    elf = readFileSync(boot.kernel_image_path);
  } catch {
    fail("The kernel file cannot be opened: No such file or directory (os error 2)");
  }
  const entry = elfEntryBytes(elf);
  if (typeof entry === "string")
    fail(`Cannot load kernel due to invalid memory configuration or invalid kernel image: ${entry}`);
  if (env.FAKE_FC_KVM === "broken")
    fail("Error creating the Kvm object: Error opening /dev/kvm: Permission denied (os error 13)");
  if (env.FAKE_FC_KVM !== "hang" && entry.subarray(0, 4).equals(Buffer.from([0xb0, 0xfe, 0xe6, 0x64])))
    process.exit(0);
  setInterval(() => {}, 1_000); // a guest that never resets
}

/** The bytes at an x86_64 ELF's entry point, or why it would not load (at or above 1 MiB, PT_LOAD). */
function elfEntryBytes(b: Buffer): Buffer | string {
  if (b.length < 64 || !b.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])))
    return "Kernel Loader: Invalid ELF magic number";
  if (b[4] !== 2 || b[5] !== 1) return "Kernel Loader: not a 64-bit little-endian ELF";
  if (b.readUInt16LE(18) !== 0x3e) return "Kernel Loader: not an x86-64 ELF";
  const entry = Number(b.readBigUInt64LE(24));
  const phoff = Number(b.readBigUInt64LE(32));
  const phentsize = b.readUInt16LE(54);
  const phnum = b.readUInt16LE(56);
  for (let i = 0; i < phnum; i++) {
    const o = phoff + i * phentsize;
    if (o + 56 > b.length) return "Kernel Loader: program header out of the file";
    if (b.readUInt32LE(o) !== 1) continue;
    const off = Number(b.readBigUInt64LE(o + 8));
    const paddr = Number(b.readBigUInt64LE(o + 24));
    const filesz = Number(b.readBigUInt64LE(o + 32));
    if (paddr < 0x100000) return "Kernel Loader: Invalid kernel start address";
    if (entry >= paddr && entry < paddr + filesz) return b.subarray(off + (entry - paddr), off + filesz);
  }
  return "Kernel Loader: the entry point is in no loadable segment";
}

function main(): void {
  const args = process.argv.slice(2);
  if (args.includes("--version")) {
    process.stdout.write(`Firecracker v${VERSION}\n\nSupported snapshot data format versions: v5.0.0\n`);
    return;
  }
  let apiSock: string | undefined;
  let configFile: string | undefined;
  let noApi = false;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--api-sock") apiSock = args[++i];
    else if (args[i] === "--config-file") configFile = args[++i];
    else if (args[i] === "--no-api") noApi = true;
    else {
      process.stderr.write(`Arguments parsing error: Found argument '${args[i]}' which wasn't expected.\n`);
      process.exit(153);
    }
  }
  if (noApi) {
    if (!configFile) {
      process.stderr.write("Arguments parsing error: --no-api requires --config-file.\n");
      process.exit(153);
    }
    runFromConfigFile(configFile);
    return;
  }
  apiSock ??= "/run/firecracker.socket";
  if (env.FAKE_FC_EXIT_EARLY) {
    process.stderr.write("fake firecracker: Failed to open /dev/kvm: Permission denied (os error 13)\n");
    process.exit(Number(env.FAKE_FC_EXIT_EARLY));
  }
  process.on("SIGTERM", () => process.exit(0));
  if (env.FAKE_FC_NO_SOCKET === "1") {
    setInterval(() => {}, 1_000);
    return;
  }
  if (existsSync(apiSock)) {
    process.stderr.write(`Failed to open the API socket at ${apiSock}: Address in use (os error 98)\n`);
    process.exit(1);
  }
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => handle(req, res, Buffer.concat(chunks).toString("utf8")));
  });
  server.listen(apiSock);
}

main();
