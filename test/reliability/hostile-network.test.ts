import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { createServer, type IncomingMessage, request, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { writeFakeFlake } from "../helpers/fake-flake.js";
import { runCli, tempDir } from "../helpers/cli.js";
import { startOci, type OciServer } from "../helpers/registry/servers.js";
import { type Reply, responsesReply, startModelServer } from "../helpers/model-server.js";

// Hostile network peers: a registry whose responses are tampered with by an HTTP proxy placed in front of
// a real docker-registry, and a model server that returns hostile plans. Each case must end in one clear
// error line and a non-zero exit, install nothing, write nothing outside the data and target dirs, and run
// no command embedded in the input.

const CANARY_DIR = tempDir("mvm-canary-");
const CANARY = join(CANARY_DIR, "pwned");

type Mode = (
  req: IncomingMessage,
  res: ServerResponse,
  forward: () => Promise<{ status: number; headers: Record<string, string>; body: Buffer }>,
) => Promise<boolean>;

const isBlob = (req: IncomingMessage) => req.method === "GET" && /\/blobs\/sha256:/.test(req.url ?? "");
const isManifest = (req: IncomingMessage) => req.method === "GET" && /\/manifests\//.test(req.url ?? "");

let mode: Mode | undefined;
let upstream: OciServer;
let proxyPort = 0;
let proxyClose: () => void = () => {};
const data = tempDir("mvm-hostile-net-");

function startProxy(upstreamHost: string): Promise<number> {
  const [host, port] = upstreamHost.split(":");
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      const forward = () =>
        new Promise<{ status: number; headers: Record<string, string>; body: Buffer }>((resolve, reject) => {
          const up = request(
            {
              host,
              port: Number(port),
              method: req.method,
              path: req.url,
              headers: { ...req.headers, host: upstreamHost },
            },
            (r) => {
              const body: Buffer[] = [];
              r.on("data", (c: Buffer) => body.push(c));
              r.on("end", () =>
                resolve({
                  status: r.statusCode ?? 502,
                  headers: r.headers as Record<string, string>,
                  body: Buffer.concat(body),
                }),
              );
            },
          );
          up.on("error", reject);
          up.end(Buffer.concat(chunks));
        });
      try {
        if (mode && (await mode(req, res, forward))) return;
        const r = await forward();
        res.writeHead(r.status, r.headers);
        res.end(r.body);
      } catch {
        res.destroy();
      }
    });
  });
  proxyClose = () => {
    server.closeAllConnections();
    server.close();
  };
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)),
  );
}

const send = (
  res: ServerResponse,
  status: number,
  headers: Record<string, string>,
  body: Buffer | string,
) => {
  res.writeHead(status, headers);
  res.end(body);
  return Promise.resolve(true);
};

const registryCases: [string, Mode][] = [
  [
    "blob with one byte flipped (wrong digest)",
    async (req, res, fwd) => {
      if (!isBlob(req)) return false;
      const r = await fwd();
      const body = Buffer.from(r.body);
      if (body.length > 0) body[Math.floor(body.length / 2)]! ^= 0xff;
      return send(res, r.status, r.headers, body);
    },
  ],
  [
    "blob with extra bytes (wrong size)",
    async (req, res, fwd) => {
      if (!isBlob(req)) return false;
      const r = await fwd();
      const body = Buffer.concat([r.body, Buffer.from("trailing garbage")]);
      return send(res, r.status, { ...r.headers, "content-length": String(body.length) }, body);
    },
  ],
  [
    "blob cut short after its headers promised more",
    async (req, res, fwd) => {
      if (!isBlob(req)) return false;
      const r = await fwd();
      res.writeHead(r.status, { ...r.headers, "content-length": String(r.body.length + 4096) });
      res.write(r.body.subarray(0, Math.floor(r.body.length / 2)));
      setTimeout(() => res.destroy(), 50);
      return true;
    },
  ],
  [
    "blob replaced by an empty body",
    async (req, res, fwd) => {
      if (!isBlob(req)) return false;
      const r = await fwd();
      return send(res, 200, { ...r.headers, "content-length": "0" }, "");
    },
  ],
  [
    "manifest that is not JSON",
    (req, res) =>
      isManifest(req)
        ? send(res, 200, { "content-type": "application/vnd.oci.image.manifest.v1+json" }, "{not json")
        : Promise.resolve(false),
  ],
  [
    "manifest naming a file ../../evil",
    async (req, res, fwd) => {
      if (!isManifest(req) && !isBlob(req)) return false;
      const r = await fwd();
      const text = r.body.toString("utf8");
      if (!text.includes("rootfs.ext4")) return false;
      const body = Buffer.from(text.replaceAll("rootfs.ext4", "../../evil"));
      return send(res, r.status, { ...r.headers, "content-length": String(body.length) }, body);
    },
  ],
  [
    "manifest of 20 MB",
    (req, res) =>
      isManifest(req)
        ? send(
            res,
            200,
            { "content-type": "application/vnd.oci.image.manifest.v1+json" },
            `{"layers":[${'"x",'.repeat(5_000_000)}"x"]}`,
          )
        : Promise.resolve(false),
  ],
  [
    "redirect to a closed port",
    (req, res) =>
      isBlob(req) ? send(res, 307, { location: "http://127.0.0.1:9/blob" }, "") : Promise.resolve(false),
  ],
  [
    "redirect loop",
    (req, res) => (isBlob(req) ? send(res, 302, { location: req.url ?? "/" }, "") : Promise.resolve(false)),
  ],
  [
    "huge response headers",
    (req, res) => {
      if (!isManifest(req)) return Promise.resolve(false);
      res.writeHead(200, { "x-padding": "a".repeat(128 * 1024), "content-type": "application/json" });
      res.end("{}");
      return Promise.resolve(true);
    },
  ],
  [
    "slow drip of one byte a second",
    (req, res) => {
      if (!isBlob(req)) return Promise.resolve(false);
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": "100000000" });
      const t = setInterval(() => res.write("x"), 1000);
      res.on("close", () => clearInterval(t));
      return Promise.resolve(true);
    },
  ],
  [
    "server error on every request",
    (_req, res) => send(res, 500, { "content-type": "text/plain" }, "internal error"),
  ],
  ["credentials refused", (_req, res) => send(res, 401, { "www-authenticate": 'Basic realm="x"' }, "")],
  [
    "HTML page instead of a manifest",
    (req, res) =>
      isManifest(req)
        ? send(res, 200, { "content-type": "text/html" }, "<html>login</html>")
        : Promise.resolve(false),
  ],
  [
    "tag not found",
    (req, res) =>
      isManifest(req)
        ? send(res, 404, { "content-type": "application/json" }, '{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
        : Promise.resolve(false),
  ],
];

const hostilePlan = (over: Record<string, unknown>) =>
  responsesReply({
    schema_version: 1,
    summary: "s",
    primary_preset: "http",
    features: ["http"],
    http_port: 8080,
    health_path: "/",
    worker_interval_secs: null,
    python_entrypoint: null,
    notes: [],
    ...over,
  });

const planCases: [string, Reply][] = [
  ["health_path with a substitution", hostilePlan({ health_path: `/$(touch ${CANARY})` })],
  ["health_path breaking out of a string", hostilePlan({ health_path: '/"; rm -rf /' })],
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a Nix antiquotation, on purpose
  ["health_path with a Nix antiquotation", hostilePlan({ health_path: "/${builtins.readFile /etc/passwd}" })],
  ["health_path with a newline", hostilePlan({ health_path: "/\ntouch x" })],
  ["health_path with dot segments", hostilePlan({ health_path: "/../../etc" })],
  [
    "python_entrypoint traversal",
    hostilePlan({ primary_preset: "python", features: ["python"], python_entrypoint: "../../etc/x.py" }),
  ],
  [
    "absolute python_entrypoint",
    hostilePlan({ primary_preset: "python", features: ["python"], python_entrypoint: "/etc/x.py" }),
  ],
  [
    "python_entrypoint with a quote",
    hostilePlan({ primary_preset: "python", features: ["python"], python_entrypoint: "a'b.py" }),
  ],
  ["port 0", hostilePlan({ http_port: 0 })],
  ["port 70000", hostilePlan({ http_port: 70000 })],
  ["port as a string", hostilePlan({ http_port: "8080; id" })],
  ["interval 0", hostilePlan({ primary_preset: "worker", features: ["worker"], worker_interval_secs: 0 })],
  ["unknown feature", hostilePlan({ features: ["http", "bitcoin-miner"] })],
  ["unknown preset", hostilePlan({ primary_preset: "rootkit" })],
  ["newer plan schema", hostilePlan({ schema_version: 2 })],
  ["plan that is not JSON", { json: { output_text: "{not json" } }],
  ["no output at all", { json: { id: "resp_1" } }],
];

before(async () => {
  upstream = await startOci();
  proxyPort = await startProxy(upstream.host);
  const flake = join(data, "..", `flake-${process.pid}`);
  writeFakeFlake(flake, {
    nonce: `${process.pid}-${Date.now()}`,
    packages: { default: { initrd: true, rootfsKiB: 4096 } },
  });
  const env = { ...upstream.env, MVM_TEMPLATE_REGISTRY: upstream.url("hostile") };
  for (const args of [
    ["template", "create", "app", "--flake", flake, "--mem", "256", "--cpus", "1"],
    ["template", "build", "app"],
    ["template", "push", "app"],
  ]) {
    const r = await runCli(args, { dataDir: data, env, timeoutMs: 300_000 });
    assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
  }
});

after(async () => {
  proxyClose();
  await upstream?.stop();
});

function clean(r: { code: number | null; stderr: string }, what: string, failures: string[]): void {
  const first = r.stderr.split("\n").find((l) => l.startsWith("error:")) ?? "";
  if (r.code === 0 || r.code === null) failures.push(`${what}: exit ${r.code}`);
  else if (!first) failures.push(`${what}: no error line in ${JSON.stringify(r.stderr.slice(0, 300))}`);
  else if (/\n\s+at \S+ \(/.test(r.stderr)) failures.push(`${what}: stack trace`);
  else if (first.length > 600) failures.push(`${what}: error line of ${first.length} characters`);
}

test(`hostile registry responses: ${registryCases.length} cases fail cleanly and install nothing`, {
  timeout: 900_000,
}, async () => {
  const failures: string[] = [];
  const outside = tempDir("mvm-outside-");
  for (const [what, m] of registryCases) {
    mode = m;
    const host = tempDir("mvm-hostile-host-");
    const r = await runCli(["template", "pull", "app"], {
      dataDir: host,
      cwd: outside,
      env: {
        ...upstream.env,
        MVM_TEMPLATE_REGISTRY: `oci://127.0.0.1:${proxyPort}/hostile`,
        MVM_REGISTRY_IDLE_TIMEOUT_MS: "3000",
        MVM_REGISTRY_RETRIES: "2",
      },
      timeoutMs: 120_000,
    });
    clean(r, `registry: ${what}`, failures);
    const installed =
      existsSync(join(host, "templates", "app", "template.json")) ||
      existsSync(join(host, "templates", "app", "current"));
    if (installed) failures.push(`registry: ${what}: something was installed`);
  }
  mode = undefined;
  assert.deepEqual(failures, []);
  assert.deepEqual(readdirSync(outside), []);
  // The untampered path still works through the same proxy.
  const host = tempDir("mvm-hostile-host-");
  const good = await runCli(["template", "pull", "app"], {
    dataDir: host,
    env: { ...upstream.env, MVM_TEMPLATE_REGISTRY: `oci://127.0.0.1:${proxyPort}/hostile` },
    timeoutMs: 120_000,
  });
  assert.equal(good.code, 0, good.stderr);
});

test(`hostile LLM plans: ${planCases.length} cases are refused with a message and write nothing`, {
  timeout: 300_000,
}, async () => {
  const failures: string[] = [];
  for (const [what, reply] of planCases) {
    const server = await startModelServer(() => reply);
    const dir = tempDir("mvm-hostile-plan-");
    try {
      const r = await runCli(
        [
          "template",
          "init",
          "svc",
          "--local",
          "--dir",
          dir,
          "--prompt",
          "a web service",
          "--planner",
          "local",
        ],
        {
          dataDir: tempDir("mvm-hostile-plan-data-"),
          env: { MVM_TEMPLATE_LOCAL_BASE_URL: server.url, OPENAI_API_KEY: "" },
          timeoutMs: 60_000,
        },
      );
      clean(r, `plan: ${what}`, failures);
      if (readdirSync(dir).length > 0) failures.push(`plan: ${what}: wrote ${readdirSync(dir).join(",")}`);
    } finally {
      await server.close();
    }
  }
  assert.deepEqual(failures, []);
  assert.equal(existsSync(CANARY), false, "a command embedded in a plan ran");
});
