import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { runCli } from "../helpers/cli.js";
import { http } from "../helpers/daemon.js";
import { type E2bHost, startE2bHost } from "./fixture.js";

// E2B's REST surface at the wire, without a VM: authentication on every listener, E2B's error shape
// ({code, message}), bounded and validated bodies and queries, and the daemon's own API beside it.

describe("serve --e2b at the wire", () => {
  let host: E2bHost;
  let key: Record<string, string>;

  before(async () => {
    host = await startE2bHost({ template: false });
    key = { "x-api-key": host.apiKey };
  });

  after(async () => {
    await host?.close();
  });

  const tcp = () => ({ port: host.daemon.port as number });

  const e2bError = (
    a: { status: number; json: () => Record<string, unknown> },
    status: number,
    re: RegExp,
  ) => {
    assert.equal(a.status, status);
    const body = a.json();
    assert.equal(body.code, status, "E2B's error shape carries the status as code");
    assert.match(String(body.message), re);
  };

  test("--e2b without --listen is a usage error", async () => {
    const r = await runCli(["serve", "--e2b"], { dataDir: host.data });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--e2b serves E2B's SDKs over HTTP: add --listen HOST:PORT/);
  });

  test("X-API-Key is required on TCP and on the unix socket; /v1 keeps its own auth", async () => {
    e2bError(await http(tcp(), "GET", "/v2/sandboxes"), 401, /valid API key is required in X-API-Key/);
    e2bError(
      await http(tcp(), "GET", "/v2/sandboxes", { headers: { "x-api-key": `${host.apiKey}x` } }),
      401,
      /X-API-Key/,
    );
    e2bError(await http({ socket: host.daemon.socket }, "GET", "/v2/sandboxes"), 401, /X-API-Key/);
    const ok = await http({ socket: host.daemon.socket }, "GET", "/v2/sandboxes", { headers: key });
    assert.equal(ok.status, 200);
    assert.deepEqual(JSON.parse(ok.body.toString()), []);
    assert.equal(ok.headers["x-total-running"], "0");
    assert.equal((await http(tcp(), "GET", "/health", { headers: key })).status, 204);
    assert.equal((await http(tcp(), "GET", "/v1/health")).status, 200);
    const v1 = await http(tcp(), "GET", "/v1/vms", { headers: { authorization: `Bearer ${host.apiKey}` } });
    assert.equal(v1.status, 200);
    assert.equal(
      (await http(tcp(), "GET", "/v1/vms", { headers: key })).status,
      401,
      "X-API-Key is E2B's only",
    );
  });

  test("create bodies are validated and bounded before anything starts", async () => {
    const create = (json: unknown, headers: Record<string, string> = {}) =>
      http(tcp(), "POST", "/v2/sandboxes", { json, headers: { ...key, ...headers } });
    e2bError(await create({ templateID: "box", bogus: 1 }), 400, /unknown field "bogus"/);
    e2bError(await create({}), 400, /templateID is required/);
    e2bError(await create({ templateID: "Bad Name" }), 400, /invalid template "Bad Name"/);
    e2bError(
      await create({ templateID: "box", timeout: 0 }),
      400,
      /timeout must be a whole number of seconds from 1/,
    );
    e2bError(await create({ templateID: "box", timeout: 1.5 }), 400, /timeout must be a whole number/);
    e2bError(
      await create({ templateID: "box", metadata: { k: 1 } }),
      400,
      /metadata value of "k" must be a string/,
    );
    e2bError(await create({ templateID: "box", envVars: { "A-B": "x" } }), 400, /envVars name "A-B"/);
    e2bError(
      await create({ templateID: "box", volumeMounts: [{ name: "v", path: "/v" }] }),
      400,
      /volumeMounts/,
    );
    e2bError(await create({ templateID: "ghost" }), 404, /template "ghost" not found on this host/);
    const raw = await http(tcp(), "POST", "/v2/sandboxes", {
      raw: "{not json",
      headers: { ...key, "content-type": "application/json" },
    });
    e2bError(raw, 400, /not valid JSON/);
    const big = await create({ templateID: "box", metadata: { k: "x".repeat(300 * 1024) } });
    e2bError(big, 413, /exceeds 262144 bytes/);
    assert.deepEqual(await host.lsNames(), []);
  });

  test("queries are validated; unknown paths and methods answer in E2B's shape", async () => {
    const get = (path: string) => http(tcp(), "GET", path, { headers: key });
    e2bError(
      await get("/v2/sandboxes?state=sleeping"),
      400,
      /state "sleeping" is not one of running, paused/,
    );
    e2bError(await get("/v2/sandboxes?limit=0"), 400, /limit must be a whole number from 1 to 100/);
    e2bError(await get("/v2/sandboxes?nextToken=garbage"), 400, /nextToken is not a cursor this host issued/);
    e2bError(await get("/v2/sandboxes?startedAfter=yesterday"), 400, /startedAfter/);
    e2bError(await get("/sandboxes/izzzzzzzzzzzzzzzzzzz"), 404, /sandbox "izzzzzzzzzzzzzzzzzzz" not found/);
    e2bError(await get("/sandboxes/..%2F..%2Fetc"), 404, /not found/);
    e2bError(await get("/sandboxes/x/y/z"), 404, /mvmctl does not serve/);
    e2bError(await http(tcp(), "DELETE", "/v2/sandboxes", { headers: key }), 405, /DELETE is not allowed/);
    e2bError(await get("/sandboxes/metrics"), 400, /sandbox metrics is not supported/);
  });

  test("envd requests for a sandbox that does not exist answer 502, as E2B's proxy does", async () => {
    const envd = await http(tcp(), "GET", "/health", {
      headers: {
        "e2b-sandbox-id": "izzzzzzzzzzzzzzzzzzz",
        "e2b-sandbox-port": "49983",
        "x-access-token": "t",
      },
    });
    e2bError(envd, 502, /sandbox "izzzzzzzzzzzzzzzzzzz" was not found/);
    const rpc = await http(tcp(), "POST", "/process.Process/List", {
      json: {},
      headers: { "e2b-sandbox-id": "../vms", "connect-protocol-version": "1" },
    });
    e2bError(rpc, 502, /was not found/);
  });
});
