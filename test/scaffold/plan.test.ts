// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these tests feed literal Nix antiquotations ("${…}") as hostile input.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MvmError } from "../../src/core/errors.js";
import { parseRawPlan, resolveLlmPlan } from "../../src/scaffold/plan.js";

export function goodPlan(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schema_version: 1,
    summary: "A Python API with Postgres.",
    primary_preset: "python",
    features: ["python", "http", "postgres"],
    http_port: 8000,
    health_path: "/ready",
    worker_interval_secs: null,
    python_entrypoint: "app.py",
    notes: ["uses the stdlib server"],
    ...over,
  };
}

function rejects(over: Record<string, unknown>, field: string): void {
  assert.throws(
    () => parseRawPlan(goodPlan(over)),
    (e: unknown) => e instanceof MvmError && e.message.includes(field) && e.exitCode === 1,
    `expected a rejection naming ${field} for ${JSON.stringify(over)}`,
  );
}

describe("plan validation (whitelist)", () => {
  test("a good plan is normalised like the original", () => {
    const plan = resolveLlmPlan(parseRawPlan(goodPlan()), undefined);
    assert.deepEqual(plan, {
      primaryPreset: "python",
      features: ["python", "postgres"],
      httpPort: 8000,
      healthPath: "/ready",
      workerIntervalSecs: null,
      pythonEntrypoint: "app.py",
    });
  });

  test("the LLM's primary_preset is respected unless --preset is given", () => {
    const raw = parseRawPlan(goodPlan({ primary_preset: "worker", features: ["worker"], http_port: null }));
    assert.equal(resolveLlmPlan(raw, undefined).primaryPreset, "worker");
    const forced = resolveLlmPlan(raw, "http");
    assert.equal(forced.primaryPreset, "http");
    assert.deepEqual(forced.features, ["http", "worker"]);
    assert.equal(forced.httpPort, 8080, "an HTTP plan without a port gets the default");
  });

  test("nullable fields may be missing and get defaults", () => {
    const o = goodPlan();
    delete o.health_path;
    delete o.python_entrypoint;
    delete o.http_port;
    const plan = resolveLlmPlan(parseRawPlan(o), undefined);
    assert.equal(plan.healthPath, "/");
    assert.equal(plan.pythonEntrypoint, "main.py");
    assert.equal(plan.httpPort, 8080);
  });

  test("injection payloads in health_path are refused, naming the field", () => {
    for (const p of [
      "/$(touch /tmp/x)",
      '/"; rm -rf /',
      "/${builtins.readFile /etc/shadow}",
      "/`id`",
      "/a b",
      "/a'b",
      "/a\nb",
      "/a;b",
      "/a|b",
      "/a&b",
      "/a?b=1",
      "relative",
      "",
      "/../etc/passwd",
      "/a/./b",
      `/${"a".repeat(300)}`,
    ])
      rejects({ health_path: p }, "health_path");
  });

  test("python_entrypoint must stay inside app/ and end in .py", () => {
    for (const p of [
      "../../etc/x.py",
      "/abs/main.py",
      "a/../../x.py",
      "./main.py",
      "main.sh",
      "main",
      ".py",
      "a//b.py",
      "main.py/",
      "$(id).py",
      "a b.py",
      "main.py; rm -rf /",
      "",
    ])
      rejects({ python_entrypoint: p }, "python_entrypoint");
    assert.equal(
      parseRawPlan(goodPlan({ python_entrypoint: "src/svc/server.py" })).python_entrypoint,
      "src/svc/server.py",
    );
  });

  test("numbers, enums and shapes are checked", () => {
    for (const [over, field] of [
      [{ http_port: 0 }, "http_port"],
      [{ http_port: 65536 }, "http_port"],
      [{ http_port: 80.5 }, "http_port"],
      [{ http_port: "8080" }, "http_port"],
      [{ worker_interval_secs: 0 }, "worker_interval_secs"],
      [{ worker_interval_secs: 3601 }, "worker_interval_secs"],
      [{ features: ["python", "redis"] }, "features"],
      [{ features: "python" }, "features"],
      [{ primary_preset: "nodejs" }, "primary_preset"],
      [{ primary_preset: null }, "primary_preset"],
      [{ schema_version: 2 }, "schema_version"],
      [{ summary: 42 }, "summary"],
      [{ notes: [1] }, "notes"],
      [{ notes: "x" }, "notes"],
      [{ packages: ["evil"] }, "packages"],
    ] as const)
      rejects(over, field);
    assert.throws(() => parseRawPlan([goodPlan()]), /plan/);
    assert.throws(() => parseRawPlan("{}"), /plan/);
  });

  test("summary and notes are kept verbatim as data", () => {
    const summary = 'Runs "$(rm -rf /)" and ${pkgs.evil}';
    const raw = parseRawPlan(goodPlan({ summary, notes: ["'; drop table"] }));
    assert.equal(raw.summary, summary);
    assert.deepEqual(raw.notes, ["'; drop table"]);
  });
});
