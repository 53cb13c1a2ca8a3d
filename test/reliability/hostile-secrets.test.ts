import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { runCli, tempDir } from "../helpers/cli.js";
import { startModelServer } from "../helpers/model-server.js";

// Secrets never printed. Credentials written into a registry URL are refused with the userinfo shown
// as ***; planner and registry servers on loopback that answer 401 with a body echoing the request's
// Authorization header (as some proxies and debugging servers do) never get the key printed — not in
// the error line, not with --json, not in the --debug stack.

const tag = () => randomBytes(6).toString("hex");

interface Leak {
  what: string;
  secrets: string[];
  run: () => Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** Exit status expected: 2 for a refused URL (usage), 1 for a refused request. */
  code: number;
  /** What the error line must say, so the case fails for the right reason. */
  says: RegExp;
  /** The secret shows up in what the peer said, so the output must show it masked (default true). */
  masked?: boolean;
}

/** What went wrong with one case (empty: it held). */
async function held(c: Leak): Promise<string[]> {
  const r = await c.run();
  const out = `${r.stdout}\n${r.stderr}`;
  const problems: string[] = [];
  if (r.code !== c.code)
    problems.push(`${c.what}: exit ${r.code}, expected ${c.code}: ${r.stderr.slice(0, 300)}`);
  const first = r.stderr.split("\n").find((l) => l.startsWith("error:")) ?? "";
  if (!c.says.test(first)) problems.push(`${c.what}: error line ${JSON.stringify(first.slice(0, 300))}`);
  for (const s of c.secrets) if (out.includes(s)) problems.push(`${c.what}: printed ${s}`);
  if (c.masked !== false && !out.includes("***")) problems.push(`${c.what}: nothing shown masked`);
  return problems;
}

const data = tempDir("mvm-secrets-data-");
const cli = (args: string[], env: Record<string, string | undefined> = {}) =>
  runCli(args, { dataDir: data, env: { MVM_TEMPLATE_REGISTRY: undefined, ...env }, timeoutMs: 60_000 });

let echoRegistry: { port: number; close: () => void };

before(async () => {
  // An OCI registry that refuses every request and quotes the Authorization header it got.
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(401, {
      "content-type": "application/json",
      "www-authenticate": 'Basic realm="echo"',
    });
    res.end(
      JSON.stringify({
        errors: [
          { code: "UNAUTHORIZED", message: `bad credentials: ${req.headers.authorization ?? "(none)"}` },
        ],
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  echoRegistry = {
    port: (server.address() as AddressInfo).port,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
});

after(() => echoRegistry?.close());

function urlCases(): Leak[] {
  const cases: Leak[] = [];
  const urls: [string, string, string[]][] = [
    ["oci", `oci://alice-${tag()}:oci-pass-${tag()}@127.0.0.1:5000/repo`, []],
    ["s3", `s3://AKIAIOSFODNN7${tag().slice(0, 5).toUpperCase()}:s3-secret-${tag()}@bucket/prefix`, []],
    ["file", `file://bob-${tag()}:file-pass-${tag()}@localhost/tmp/registry`, []],
  ];
  for (const [kind, url] of urls) {
    const userinfo = /^[a-z0-9]+:\/\/([^@]*)@/.exec(url)?.[1] ?? "";
    const secrets = [userinfo, ...userinfo.split(":")];
    for (const [how, run] of [
      ["--registry flag, pull --debug", () => cli(["template", "pull", "app", "--registry", url, "--debug"])],
      [
        "MVM_TEMPLATE_REGISTRY, push --json",
        () => cli(["template", "push", "app", "--json"], { MVM_TEMPLATE_REGISTRY: url }),
      ],
      [
        "MVM_TEMPLATE_REGISTRY, list --remote --json --debug",
        () => cli(["template", "list", "--remote", "--json", "--debug"], { MVM_TEMPLATE_REGISTRY: url }),
      ],
    ] as const)
      cases.push({
        what: `${kind} URL with credentials (${how})`,
        secrets,
        run,
        code: 2,
        says: /holds credentials \(user:password@\): they are not accepted in a URL/,
      });
  }
  const endpointSecret = `endpoint-secret-${tag()}`;
  cases.push({
    what: "S3 endpoint with credentials",
    secrets: [endpointSecret],
    run: () =>
      cli(["template", "list", "--remote", "--debug"], {
        MVM_TEMPLATE_REGISTRY: "s3://bucket/prefix",
        MVM_TEMPLATE_REGISTRY_ENDPOINT: `http://key:${endpointSecret}@127.0.0.1:9000`,
        MVM_TEMPLATE_REGISTRY_INSECURE: "1",
      }),
    code: 2,
    says: /S3 endpoint "http:\/\/\*\*\*@127\.0\.0\.1:9000" holds credentials/,
  });
  return cases;
}

test("secrets in registry URLs: 10 cases held (refused, userinfo shown as ***)", async () => {
  const cases = urlCases();
  assert.equal(cases.length, 10);
  const problems = (await Promise.all(cases.map(held))).flat();
  assert.deepEqual(problems, []);
});

test("secrets echoed by a 401: 5 cases held (planner and registry keys never printed)", async () => {
  const openaiKey = `sk-test${tag()}${tag()}${tag()}`;
  const localKey = `local-key-${tag()}`;
  const planner = await startModelServer((req) => ({
    status: 401,
    json: {
      error: {
        message: `Incorrect API key provided: ${req.headers.authorization}`,
        echoed_headers: req.headers,
      },
    },
  }));
  const ociPassword = `oci-password-${tag()}`;
  const ociBasic = Buffer.from(`robot:${ociPassword}`).toString("base64");
  const init = (planner: "openai" | "local", extra: string[], env: Record<string, string>) => () =>
    runCli(
      [
        "template",
        "init",
        "svc",
        "--local",
        "--dir",
        tempDir("mvm-secrets-init-"),
        "--prompt",
        "a web service",
        "--planner",
        planner,
        ...extra,
      ],
      { dataDir: data, env, timeoutMs: 60_000 },
    );
  // A registry that answers 401 with the Authorization header it was sent, reached with basic credentials.
  const echoRegistryEnv = {
    MVM_TEMPLATE_REGISTRY: `oci://127.0.0.1:${echoRegistry.port}/repo`,
    MVM_TEMPLATE_REGISTRY_INSECURE: "1",
    MVM_OCI_USERNAME: "robot",
    MVM_OCI_PASSWORD: ociPassword,
    MVM_REGISTRY_RETRIES: "1",
  };
  const cases: Leak[] = [
    {
      what: "openai planner 401 echoing Authorization (--debug)",
      secrets: [openaiKey, openaiKey.slice(3)],
      run: init("openai", ["--debug"], {
        OPENAI_API_KEY: openaiKey,
        MVM_TEMPLATE_OPENAI_BASE_URL: planner.url,
      }),
      code: 1,
      says: /failed with HTTP 401/,
    },
    {
      what: "openai planner 401 echoing Authorization (--json)",
      secrets: [openaiKey, openaiKey.slice(3)],
      run: init("openai", ["--json"], {
        OPENAI_API_KEY: openaiKey,
        MVM_TEMPLATE_OPENAI_BASE_URL: planner.url,
      }),
      code: 1,
      says: /failed with HTTP 401/,
    },
    {
      what: "local planner 401 echoing a key of no known shape",
      secrets: [localKey],
      run: init("local", ["--debug"], {
        OPENAI_API_KEY: "",
        MVM_TEMPLATE_LOCAL_BASE_URL: planner.url,
        MVM_TEMPLATE_LOCAL_API_KEY: localKey,
      }),
      code: 1,
      says: /failed with HTTP 401/,
    },
    {
      what: "OCI registry 401 echoing basic credentials (pull --debug)",
      secrets: [ociPassword, ociBasic],
      run: () => cli(["template", "pull", "app", "--debug"], echoRegistryEnv),
      code: 1,
      says: /refused GET \/v2\/\S+ \(HTTP 401\)/,
      masked: false,
    },
    {
      what: "OCI registry 401 echoing basic credentials (list --remote --json)",
      secrets: [ociPassword, ociBasic],
      run: () => cli(["template", "list", "--remote", "--json"], echoRegistryEnv),
      code: 1,
      says: /refused GET \/v2\/\S+ \(HTTP 401\)/,
      masked: false,
    },
  ];
  try {
    const problems: string[] = [];
    for (const c of cases) problems.push(...(await held(c)));
    assert.deepEqual(problems, []);
    assert.ok(planner.requests.length >= 3, "the planner cases reached the server");
  } finally {
    await planner.close();
  }
});
