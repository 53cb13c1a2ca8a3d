// biome-ignore-all lint/suspicious/noTemplateCurlyInString: flakes hold literal Nix antiquotations ("${appSrc}").
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { runCli, tempDir } from "../../helpers/cli.js";
import {
  chatReply,
  type ModelServer,
  responsesReply,
  type Script,
  startModelServer,
} from "../../helpers/model-server.js";

// The LLM planners end to end: the real CLI talks to a real HTTP server on 127.0.0.1 that speaks the
// Responses API and chat-completions wire formats.

const PLANNER_VARS = [
  "MVM_TEMPLATE_PROVIDER",
  "OPENAI_API_KEY",
  "OPENAI_BASE_URL",
  "MVM_TEMPLATE_OPENAI_BASE_URL",
  "MVM_TEMPLATE_OPENAI_MODEL",
  "MVM_TEMPLATE_LOCAL_BASE_URL",
  "LOCALAI_BASE_URL",
  "MVM_TEMPLATE_LOCAL_MODEL",
  "LOCALAI_MODEL",
  "MVM_TEMPLATE_LOCAL_API_KEY",
  "LOCALAI_API_KEY",
  "MVM_TEMPLATE_LLM_TIMEOUT_MS",
];

function env(extra: Record<string, string>): Record<string, string | undefined> {
  const e: Record<string, string | undefined> = {};
  for (const v of PLANNER_VARS) e[v] = undefined;
  return { ...e, ...extra };
}

function plan(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schema_version: 1,
    summary: "Python service on port 9000.",
    primary_preset: "python",
    features: ["python", "http"],
    http_port: 9000,
    health_path: "/healthz",
    worker_interval_secs: null,
    python_entrypoint: "service.py",
    notes: ["stdlib only"],
    ...over,
  };
}

const servers: ModelServer[] = [];
async function server(script: Script): Promise<ModelServer> {
  const s = await startModelServer(script);
  servers.push(s);
  return s;
}
after(async () => {
  for (const s of servers) await s.close();
});

async function init(name: string, args: string[], e: Record<string, string>) {
  const parent = tempDir("mvm-llm-");
  const r = await runCli(["template", "init", name, "--local", "--dir", parent, ...args], {
    dataDir: tempDir(),
    env: env(e),
  });
  const dir = join(parent, name);
  const read = (f: string) => readFileSync(join(dir, f), "utf8");
  return { r, dir, parent, read };
}

describe("LLM planners over the wire", () => {
  test("openai: Responses API request, bearer key, plan honoured", async () => {
    const s = await server(() => responsesReply(plan()));
    const { r, read } = await init("svc", ["--prompt", "python service exposing an HTTP API"], {
      OPENAI_API_KEY: "test-key",
      MVM_TEMPLATE_OPENAI_BASE_URL: `${s.url}/v1/`, // a base URL ending in /v1 works too
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Planning with openai model gpt-5\.2 at http:\/\/127\.0\.0\.1:\d+\.\.\./);
    assert.equal(s.requests.length, 1);
    const req = s.requests[0]!;
    assert.equal(`${req.method} ${req.url}`, "POST /v1/responses");
    assert.equal(req.headers.authorization, "Bearer test-key");
    assert.equal(req.headers["content-type"], "application/json");
    assert.match(String(req.headers["user-agent"]), /^mvmctl\/\d/);
    assert.ok(req.body.includes("python service exposing an HTTP API"));
    assert.equal(req.json.model, "gpt-5.2");
    const format = (req.json.text as { format: Record<string, unknown> }).format;
    assert.equal(format.type, "json_schema");
    assert.equal(format.strict, true);
    assert.equal(format.name, "mvm_template_plan");
    const schema = format.schema as { required: string[]; additionalProperties: boolean };
    assert.equal(schema.additionalProperties, false);
    assert.deepEqual([...schema.required].sort(), Object.keys(plan()).sort(), "every plan field is required");
    assert.match(req.body, /Explicit preset override: none/);

    const flake = read("flake.nix");
    assert.ok(flake.includes("127.0.0.1:9000/healthz"));
    assert.ok(flake.includes("${appSrc}/service.py"));
    const meta = JSON.parse(read("mvm-template-prompt.json"));
    assert.equal(meta.generation_mode, "llm");
    assert.equal(meta.provider, "openai");
    assert.equal(meta.model, "gpt-5.2");
    assert.equal(meta.summary, "Python service on port 9000.");
    assert.deepEqual(meta.notes, ["stdlib only"]);
    assert.deepEqual(meta.inferred_features, ["python"]);
    assert.equal(meta.schema_version, 3);
    assert.match(read("app/service.py"), /HEALTH_PATH = "\/healthz"/);
  });

  test("local: Responses API without a key, model from env, worker interval honoured", async () => {
    const s = await server(() =>
      responsesReply(
        plan({ primary_preset: "worker", features: ["worker"], http_port: null, worker_interval_secs: 30 }),
      ),
    );
    const { r, read } = await init("poller", ["--prompt", "a python worker that polls"], {
      MVM_TEMPLATE_PROVIDER: "local",
      MVM_TEMPLATE_LOCAL_BASE_URL: s.url,
      MVM_TEMPLATE_LOCAL_MODEL: "llama.cpp/qwen2.5",
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(s.requests[0]?.url, "/v1/responses");
    assert.equal(s.requests[0]?.headers.authorization, undefined);
    assert.match(read("flake.nix"), /sleep 30; done/);
    const meta = JSON.parse(read("mvm-template-prompt.json"));
    assert.equal(meta.provider, "local");
    assert.equal(meta.model, "llama.cpp/qwen2.5");
    assert.equal(
      meta.primary_preset,
      "worker",
      "the LLM's preset is respected (the heuristic would say python)",
    );
  });

  test("local: falls back to chat completions with a JSON-schema response format", async () => {
    const s = await server((req) =>
      req.url === "/v1/responses"
        ? { status: 404, json: { error: "not found" } }
        : chatReply(plan({ http_port: 8000 })),
    );
    const { r, read } = await init("chatty", ["--prompt", "python api", "--planner", "local"], {
      LOCALAI_BASE_URL: s.url,
      LOCALAI_API_KEY: "local-key",
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      s.requests.map((q) => q.url),
      ["/v1/responses", "/v1/chat/completions"],
    );
    const chat = s.requests[1]!;
    assert.equal(chat.headers.authorization, "Bearer local-key");
    const rf = chat.json.response_format as { type: string; json_schema: { strict: boolean; name: string } };
    assert.equal(rf.type, "json_schema");
    assert.equal(rf.json_schema.strict, true);
    assert.equal((chat.json.messages as unknown[]).length, 2);
    assert.equal(chat.json.model, "qwen2.5-coder-7b-instruct");
    assert.ok(read("flake.nix").includes("127.0.0.1:8000/healthz"));
  });

  test("malformed JSON: an explicit provider fails and writes nothing; auto warns and falls back", async () => {
    const s = await server(() => responsesReply("{ this is not json"));
    const hard = await init("bad", ["--prompt", "python api", "--planner", "openai"], {
      OPENAI_API_KEY: "k",
      OPENAI_BASE_URL: s.url,
    });
    assert.equal(hard.r.code, 1);
    assert.match(
      hard.r.stderr,
      /^error: openai template planning: the model's output text is not valid JSON$/m,
    );
    assert.doesNotMatch(hard.r.stderr, /at .*\.js/, "no stack trace");
    assert.deepEqual(readdirSync(hard.parent), [], "nothing written");

    const soft = await init("soft", ["--prompt", "python api"], {
      OPENAI_API_KEY: "k",
      OPENAI_BASE_URL: s.url,
    });
    assert.equal(soft.r.code, 0, soft.r.stderr);
    assert.match(soft.r.stderr, /warning: .*not valid JSON; falling back to the built-in planner/);
    const meta = JSON.parse(soft.read("mvm-template-prompt.json"));
    assert.equal(meta.generation_mode, "heuristic");
    assert.equal(meta.primary_preset, "python");
    assert.match(meta.notes[0], /not valid JSON/);
  });

  test("a plan that breaks the schema is refused with the field named", async () => {
    // A file the hostile health path would create if it ever reached a shell.
    const marker = join(tempDir("mvm-llm-marker-"), "touched");
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ health_path: `/$(touch ${marker})` }, /health_path/],
      [{ health_path: '/"; rm -rf /' }, /health_path/],
      [{ python_entrypoint: "../../etc/x.py" }, /python_entrypoint/],
      [{ features: ["python", "redis"] }, /features/],
      [{ http_port: 70000 }, /http_port/],
      [{ extra: "field" }, /extra/],
    ];
    for (const [over, field] of cases) {
      const s = await server(() => responsesReply(plan(over)));
      const { r, parent } = await init("evil", ["--prompt", "python api", "--planner", "openai"], {
        OPENAI_API_KEY: "k",
        OPENAI_BASE_URL: s.url,
      });
      assert.equal(r.code, 1, `${JSON.stringify(over)}: ${r.stderr}`);
      assert.match(r.stderr, /^error: invalid template plan: /m);
      assert.match(r.stderr, field);
      assert.deepEqual(readdirSync(parent), []);
    }
    assert.ok(!existsSync(marker), "no shell ran the plan's text");
  });

  test("HTTP 500 then success: one retry", async () => {
    const s = await server((_req, i) =>
      i === 0
        ? { status: 500, headers: { "retry-after": "0" }, json: { error: "boom" } }
        : responsesReply(plan()),
    );
    const { r } = await init("retry", ["--prompt", "python api", "--planner", "openai"], {
      OPENAI_API_KEY: "k",
      OPENAI_BASE_URL: s.url,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(s.requests.length, 2);
  });

  test("429 twice: gives up after exactly one retry, with the status and body in the error", async () => {
    const s = await server(() => ({
      status: 429,
      headers: { "retry-after": "0" },
      json: { error: "slow down" },
    }));
    const { r } = await init("limited", ["--prompt", "python api", "--planner", "openai"], {
      OPENAI_API_KEY: "secret-key-123",
      OPENAI_BASE_URL: s.url,
    });
    assert.equal(r.code, 1);
    assert.equal(s.requests.length, 2);
    assert.match(
      r.stderr,
      /^error: openai template planning failed with HTTP 429: \{"error":"slow down"\}$/m,
    );
    assert.doesNotMatch(r.stderr, /secret-key-123/);
  });

  test("a server that hangs past the timeout fails fast (headers or body)", async () => {
    for (const hang of ["before-headers", "mid-body"] as const) {
      const s = await server(() => ({ hang }));
      const started = Date.now();
      const { r, parent } = await init("slow", ["--prompt", "python api", "--planner", "local"], {
        MVM_TEMPLATE_LOCAL_BASE_URL: s.url,
        MVM_TEMPLATE_LLM_TIMEOUT_MS: "300",
      });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^error: local template planning timed out after 300 ms/m);
      assert.match(r.stderr, /MVM_TEMPLATE_LLM_TIMEOUT_MS/);
      assert.deepEqual(readdirSync(parent), []);
      assert.ok(Date.now() - started < 20_000);
    }
    // In auto mode the same hang costs one timeout and the heuristic plan is used.
    const s = await server(() => ({ hang: "before-headers" }));
    const { r, read } = await init("slow-auto", ["--prompt", "a worker"], {
      MVM_TEMPLATE_LOCAL_BASE_URL: s.url,
      MVM_TEMPLATE_LLM_TIMEOUT_MS: "300",
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: local template planning timed out/);
    assert.equal(JSON.parse(read("mvm-template-prompt.json")).primary_preset, "worker");
  });

  test("an unreachable server or an oversized reply: explicit fails, auto falls back", async () => {
    const closed = await server(() => responsesReply(plan()));
    await closed.close();
    const hard = await init("gone", ["--prompt", "python api", "--planner", "local"], {
      MVM_TEMPLATE_LOCAL_BASE_URL: closed.url,
    });
    assert.equal(hard.r.code, 1);
    assert.match(
      hard.r.stderr,
      /^error: local template planning: cannot reach http:\/\/127\.0\.0\.1:\d+\/v1\/responses: /m,
    );
    const soft = await init("gone2", ["--prompt", "python api"], { MVM_TEMPLATE_LOCAL_BASE_URL: closed.url });
    assert.equal(soft.r.code, 0, soft.r.stderr);
    assert.match(soft.r.stderr, /warning: .*cannot reach/);

    const huge = await server(() => ({ text: `{"output_text": "${"x".repeat(2 << 20)}"}` }));
    const big = await init("big", ["--prompt", "python api", "--planner", "local"], {
      MVM_TEMPLATE_LOCAL_BASE_URL: huge.url,
    });
    assert.equal(big.r.code, 1);
    assert.match(big.r.stderr, /the reply is larger than 1048576 bytes/);
    assert.deepEqual(readdirSync(big.parent), []);
  });

  test("--preset wins over the LLM's choice and is sent as the override", async () => {
    const s = await server(() => responsesReply(plan()));
    const { r, read } = await init("forced", ["--prompt", "python api", "--preset", "worker"], {
      OPENAI_API_KEY: "k",
      OPENAI_BASE_URL: s.url,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(s.requests[0]!.body, /Explicit preset override: worker/);
    const meta = JSON.parse(read("mvm-template-prompt.json"));
    assert.equal(meta.primary_preset, "worker");
    assert.deepEqual(meta.inferred_features, ["python", "worker"]);
  });

  test("--planner heuristic overrides MVM_TEMPLATE_PROVIDER; bad provider values are usage errors", async () => {
    const s = await server(() => responsesReply(plan()));
    const { r } = await init("h", ["--prompt", "python api", "--planner", "heuristic"], {
      MVM_TEMPLATE_PROVIDER: "openai",
      OPENAI_API_KEY: "k",
      OPENAI_BASE_URL: s.url,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(s.requests.length, 0);

    const bad = await init("h2", ["--prompt", "x"], { MVM_TEMPLATE_PROVIDER: "claude" });
    assert.equal(bad.r.code, 2);
    assert.match(
      bad.r.stderr,
      /Unsupported MVM_TEMPLATE_PROVIDER "claude"\. Valid values: auto, heuristic, openai, local/,
    );
    const noKey = await init("h3", ["--prompt", "x", "--planner", "openai"], {});
    assert.equal(noKey.r.code, 2);
    assert.match(noKey.r.stderr, /--planner=openai requires OPENAI_API_KEY/);
    const noUrl = await init("h4", ["--prompt", "x"], { MVM_TEMPLATE_PROVIDER: "local" });
    assert.equal(noUrl.r.code, 2);
    assert.match(noUrl.r.stderr, /MVM_TEMPLATE_PROVIDER=local requires a local model base URL/);
    const badFlag = await init("h5", ["--prompt", "x", "--planner", "gpt"], {});
    assert.equal(badFlag.r.code, 2);
    for (const x of [bad, noKey, noUrl, badFlag]) assert.deepEqual(readdirSync(x.parent), []);
  });

  test("--plan-only --json prints the validated plan and writes nothing", async () => {
    const s = await server(() => responsesReply(plan({ notes: ["a", "b"] })));
    const { r, parent } = await init("review", ["--prompt", "python api", "--plan-only", "--json"], {
      OPENAI_API_KEY: "k",
      OPENAI_BASE_URL: s.url,
    });
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.generation_mode, "llm");
    assert.equal(out.primary_preset, "python");
    assert.equal(out.http_port, 9000);
    assert.equal(out.health_path, "/healthz");
    assert.deepEqual(out.notes, ["a", "b"]);
    assert.deepEqual(readdirSync(parent), []);
  });
});
