import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { OPENAPI_PATH, apiRoutes } from "../../src/server/routes.js";
import { VmService } from "../../src/server/vm-service.js";
import { DataPaths } from "../../src/store/paths.js";
import { TemplateStore } from "../../src/store/templates.js";
import { runCli, tempDir } from "../helpers/cli.js";
import { errorCode, http, startTestDaemon, type TestDaemon } from "../helpers/daemon.js";

// The daemon's API surface without booting anything: its OpenAPI document against the routes it
// serves, authentication on TCP, and hostile requests, each refused with a stable code.

describe("mvmctl serve API", () => {
  const root = tempDir("mvm-serve-api-");
  const data = join(root, "data");
  let daemon: TestDaemon;

  before(async () => {
    daemon = await startTestDaemon(data, ["--listen", "127.0.0.1:0"]);
  });

  after(async () => {
    await daemon?.stop();
    await rm(root, { recursive: true, force: true });
  });

  test("every route served is in the OpenAPI document, and every documented operation is served", async () => {
    const doc = JSON.parse(readFileSync(OPENAPI_PATH, "utf8")) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    assert.equal(doc.openapi, "3.1.0");
    const paths = new DataPaths(data);
    const routes = apiRoutes(
      new VmService(paths, new TemplateStore(paths), {
        hypervisor: "qemu",
        readyTimeoutMs: 1000,
        limits: { maxVms: 1, maxMemMib: 1 },
      }),
      { maxUpload: 1 },
    );
    const served = routes.map((r) => `${r.method} ${r.path}`).sort();
    const documented = Object.entries(doc.paths)
      .flatMap(([p, ops]) =>
        Object.keys(ops)
          .filter((m) => m !== "parameters")
          .map((m) => `${m.toUpperCase()} ${p}`),
      )
      .sort();
    assert.deepEqual(served, documented);
    const live = await http({ socket: daemon.socket }, "GET", "/openapi.json");
    assert.equal(live.status, 200);
    assert.deepEqual(live.json(), doc);
  });

  test("TCP needs the generated key, printed once; health is open", async () => {
    const port = daemon.port as number;
    assert.match(daemon.apiKey ?? "", /^mvm_[A-Za-z0-9_-]{32}$/);
    assert.equal((await http({ port }, "GET", "/v1/health")).status, 200);
    for (const authorization of [
      undefined,
      "Bearer",
      "Bearer wrong",
      `Basic ${daemon.apiKey}`,
      `Bearer ${daemon.apiKey}x`,
      `Bearer ${(daemon.apiKey as string).slice(0, -1)}`,
    ]) {
      const r = await http(
        { port },
        "GET",
        "/v1/templates",
        authorization ? { headers: { authorization } } : {},
      );
      assert.equal(r.status, 401, String(authorization));
      assert.equal(errorCode(r), "unauthorized");
      assert.ok(!r.body.toString().includes(daemon.apiKey as string));
    }
    const ok = await http({ port }, "GET", "/v1/templates", {
      headers: { authorization: `Bearer ${daemon.apiKey}` },
    });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.json(), { templates: [] });
    assert.ok(!daemon.stderr().includes(daemon.apiKey as string), "the key is not logged");
  });

  test("hostile requests are refused with a status and a stable code", async () => {
    const to = { socket: daemon.socket };
    const json = { "content-type": "application/json" };
    const cases: [string, string, Parameters<typeof http>[3], number, string][] = [
      ["POST", "/v1/vms", { raw: "{not json", headers: json }, 400, "invalid_json"],
      ["POST", "/v1/vms", { raw: "[1,2]", headers: json }, 400, "invalid_request"],
      [
        "POST",
        "/v1/vms",
        { raw: '{"template":"box"}', headers: { "content-type": "text/plain" } },
        415,
        "unsupported_media_type",
      ],
      [
        "POST",
        "/v1/vms",
        { raw: `{"template":"${"a".repeat(2 * 1024 * 1024)}"}`, headers: json },
        413,
        "body_too_large",
      ],
      ["POST", "/v1/vms", { json: { template: "box", ttl: 5 } }, 400, "invalid_request"],
      ["POST", "/v1/vms", { json: {} }, 400, "invalid_request"],
      ["POST", "/v1/vms", { json: { template: "../etc" } }, 400, "invalid_request"],
      ["POST", "/v1/vms", { json: { template: "box", name: "UP" } }, 400, "invalid_request"],
      ["POST", "/v1/vms", { json: { template: "box", ttl_ms: 10 } }, 400, "invalid_request"],
      ["POST", "/v1/vms", { json: { template: "box", cpus: 1.5 } }, 400, "invalid_request"],
      ["POST", "/v1/vms", { json: { template: "box", mem_mib: 1e12 } }, 400, "invalid_request"],
      [
        "POST",
        "/v1/vms",
        { json: { template: "box", ports: [{ host: 0, guest: 80 }] } },
        400,
        "invalid_request",
      ],
      [
        "POST",
        "/v1/vms",
        { json: { template: "box", ports: Array(17).fill({ host: 1, guest: 1 }) } },
        400,
        "invalid_request",
      ],
      ["POST", "/v1/vms", { json: { template: "box", env: { "A=B": "x" } } }, 400, "invalid_request"],
      ["POST", "/v1/vms", { json: { template: "box", env: { A: "x\u0000y" } } }, 400, "invalid_request"],
      ["POST", "/v1/vms", { json: { template: "box", labels: { "Bad Key": "x" } } }, 400, "invalid_request"],
      [
        "POST",
        "/v1/vms",
        {
          json: {
            template: "box",
            labels: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, "v"])),
          },
        },
        400,
        "invalid_request",
      ],
      ["POST", "/v1/vms", { json: { template: "box" } }, 404, "template_not_found"],
      ["GET", "/v1/vms/..%2f..%2fetc", {}, 400, "invalid_request"],
      ["GET", "/v1/vms/nope", {}, 404, "vm_not_found"],
      ["DELETE", "/v1/vms/nope", {}, 404, "vm_not_found"],
      ["POST", "/v1/vms/nope/exec", { json: { argv: [] } }, 400, "invalid_request"],
      ["POST", "/v1/vms/nope/exec", { json: { argv: ["ls"], cwd: "tmp" } }, 400, "invalid_request"],
      ["POST", "/v1/vms/nope/exec", { json: { argv: ["ls"] } }, 404, "vm_not_found"],
      ["GET", "/v1/vms/nope/files?path=etc/passwd", {}, 400, "invalid_request"],
      ["GET", "/v1/vms/nope/files", {}, 400, "invalid_request"],
      ["GET", "/v1/vms/nope/files/list?path=/&depth=999", {}, 404, "vm_not_found"],
      ["PUT", "/v1/vms/nope/ttl", { json: { ttl_ms: 5 } }, 400, "invalid_request"],
      ["GET", "/v1/templates/Bad%20Name", {}, 400, "invalid_request"],
      ["GET", "/v1/templates/nope", {}, 404, "template_not_found"],
      ["GET", "/v1/nothing", {}, 404, "no_such_route"],
      ["PATCH", "/v1/vms", {}, 405, "method_not_allowed"],
    ];
    for (const [method, path, opts, status, code] of cases) {
      const r = await http(to, method, path, opts);
      assert.equal(r.status, status, `${method} ${path.slice(0, 60)}: ${r.body.toString().slice(0, 200)}`);
      assert.equal(errorCode(r), code, `${method} ${path.slice(0, 60)}`);
      assert.doesNotMatch(r.body.toString(), /\n\s+at /, "no stack trace");
    }
    // Still answering after all of that.
    assert.equal((await http(to, "GET", "/v1/health")).status, 200);
  });

  test("serve refuses bad flags (exit 2) and a second daemon on the same socket (exit 1)", async () => {
    const keyFile = join(root, "short.key");
    writeFileSync(keyFile, "short\n");
    const env = { MVM_QEMU_ACCEL: "tcg" };
    const noListen = await runCli(["serve", "--api-key-file", keyFile], { dataDir: data, env });
    assert.equal(noListen.code, 2);
    assert.match(noListen.stderr, /--api-key-file is for --listen/);
    const weakKey = await runCli(["serve", "--listen", "127.0.0.1:0", "--api-key-file", keyFile], {
      dataDir: data,
      env,
    });
    assert.equal(weakKey.code, 2);
    assert.match(weakKey.stderr, /16 to 512 printable characters/);
    const badListen = await runCli(["serve", "--listen", "example.com"], { dataDir: data, env });
    assert.equal(badListen.code, 2);
    assert.match(badListen.stderr, /invalid --listen/);
    const twice = await runCli(["serve"], { dataDir: data, env });
    assert.equal(twice.code, 1);
    assert.match(twice.stderr, /a daemon is already listening on .*mvmd\.sock/);
  });
});
