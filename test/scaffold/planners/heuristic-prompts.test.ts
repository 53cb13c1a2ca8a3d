import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { MvmError } from "../../../src/core/errors.js";
import { PLAN_DEFAULTS } from "../../../src/scaffold/model.js";
import { inferFeatures, planHeuristically } from "../../../src/scaffold/planners/heuristic.js";
import { runCli, tempDir } from "../../helpers/cli.js";

// What a prompt says in so many words reaches the plan: the service it describes, its port, its health
// path and its schedule. Values out of bounds or contradicting each other are usage errors.

function plan(prompt: string) {
  return planHeuristically(prompt, undefined).plan;
}

function settings(prompt: string) {
  const p = plan(prompt);
  return { preset: p.primaryPreset, port: p.httpPort, health: p.healthPath, interval: p.workerIntervalSecs };
}

function refused(prompt: string, message: RegExp): void {
  assert.throws(
    () => planHeuristically(prompt, undefined),
    (e: unknown) => {
      assert.ok(e instanceof MvmError, String(e));
      assert.equal(e.exitCode, 2, "a usage error");
      assert.match(e.message, message);
      return true;
    },
    prompt,
  );
}

describe("heuristic planner: what the prompt states", () => {
  test("a static site with port and health path, a webhook receiver, a gRPC port, a polling interval", () => {
    assert.deepEqual(settings("a static website on port 3000 with health at /healthz"), {
      preset: "http",
      port: 3000,
      health: "/healthz",
      interval: PLAN_DEFAULTS.workerIntervalSecs,
    });
    assert.equal(settings("a webhook receiver").preset, "http");
    assert.deepEqual(settings("a gRPC service on 50051"), {
      preset: "http",
      port: 50051,
      health: "/",
      interval: PLAN_DEFAULTS.workerIntervalSecs,
    });
    assert.deepEqual(settings("poll every 5 minutes"), {
      preset: "worker",
      port: PLAN_DEFAULTS.httpPort,
      health: "/",
      interval: 300,
    });
  });

  test("the service words mean their presets", () => {
    const cases: [string, string][] = [
      ["a static site", "http"],
      ["serve static files for the docs", "http"],
      ["a landing page", "http"],
      ["receives webhooks from GitHub", "http"],
      ["a REST service for orders", "http"],
      ["a RESTful backend", "http"],
      ["a gRPC backend", "http"],
      ["a Node.js app", "http"],
      ["an Express app", "http"],
      ["nodejs microservice", "http"],
      ["a cron job that cleans the cache", "worker"],
      ["a scheduled report", "worker"],
      ["a periodic sync", "worker"],
      ["hourly export", "worker"],
      ["consumer for a message queue", "worker"],
      ["run */10 * * * * cleanup", "worker"],
      ["refresh the cache every 30 seconds", "worker"],
      ["a FastAPI app served by uvicorn", "python"],
      ["a db for the team", "postgres"],
    ];
    for (const [prompt, preset] of cases) assert.equal(plan(prompt).primaryPreset, preset, prompt);
  });

  test("whole words only: look-alike words mean nothing", () => {
    for (const prompt of [
      "a rapid prototype", // api
      "an observer pattern", // server
      "a cobweb scraper", // web
      "jobsite tracker", // job
      "the rest of the data", // rest, without api/service
      "a nodes graph", // node
      "interest rates", // rest
      "dbase converter", // db
      "an expressive parser", // express
      "a grpcurl clone", // grpc
      "a campsite", // site
    ])
      assert.deepEqual(inferFeatures(prompt), [], prompt);
  });

  test("ports: the forms people write, not numbers that are something else", () => {
    const port = (p: string) => plan(p).httpPort;
    assert.equal(port("web server on port 3000"), 3000);
    assert.equal(port("api, port: 9000"), 9000);
    assert.equal(port("api with port=8081"), 8081);
    assert.equal(port("an api listening on :4000"), 4000);
    assert.equal(port("web app at localhost:5173"), 5173);
    assert.equal(port("check http://localhost:3001/healthz for the web app"), 3001);
    assert.equal(port("a web server at 8000, nothing else"), 8000);
    assert.equal(
      port("http api on 8080 with postgres on 5432"),
      8080,
      "postgres's port is not the HTTP port",
    );
    assert.equal(port("web api backed by postgres on port 5432"), PLAN_DEFAULTS.httpPort);
    assert.equal(port("a web server on 2 cores"), PLAN_DEFAULTS.httpPort);
    assert.equal(port("a web report refreshed at 10:30 each morning"), PLAN_DEFAULTS.httpPort);
    assert.equal(port("api on port 3000, yes port 3000"), 3000, "the same port twice is one port");
  });

  test("health paths: near a health word, or a health endpoint on its own; never another path", () => {
    const health = (p: string) => plan(p).healthPath;
    assert.equal(health("web app, health check at /api/health."), "/api/health");
    assert.equal(health("web app with a liveness probe on /live"), "/live");
    assert.equal(health("an api that answers /readyz when ready"), "/readyz");
    assert.equal(health("api with /status"), "/status");
    assert.equal(health("web app, health at /healthz?verbose=1"), "/healthz");
    assert.equal(health("static site that serves /var/www/html"), "/");
  });

  test("intervals: every N units, once a unit, hourly, cron's minute field; health-check timing is not one", () => {
    const interval = (p: string) => plan(p).workerIntervalSecs;
    assert.equal(interval("poll an api every 30s"), 30);
    assert.equal(interval("a worker that runs every minute"), 60);
    assert.equal(interval("sync every 1.5 minutes"), 90);
    assert.equal(interval("a worker that runs once an hour"), 3600);
    assert.equal(interval("a job on a 15-minute schedule"), 900);
    assert.equal(interval("worker with an interval of 45 seconds"), 45);
    assert.equal(interval("poll twice a minute"), 30);
    assert.equal(interval("hourly export"), 3600);
    assert.equal(interval("*/5 * * * * backup job"), 300);
    assert.equal(interval("web server with health checks every 5 seconds"), PLAN_DEFAULTS.workerIntervalSecs);
    assert.deepEqual(plan("a web server that refreshes its cache every 10 minutes").features, [
      "http",
      "worker",
    ]);
  });

  test("values outside what a plan may hold, or two values for one setting, are usage errors quoting the prompt", () => {
    refused(
      "api on port 70000",
      /^the prompt names port 70000 \("port 70000"\): http_port must be a whole number from 1 to 65535$/,
    );
    refused("api on port 0", /http_port must be a whole number from 1 to 65535/);
    refused(
      "web on port 3000 and on port 4000",
      /^the prompt states more than one HTTP port: "port 3000", "port 4000"$/,
    );
    refused(
      "a nightly backup job",
      /^the prompt asks for a worker interval of 86400 s \("nightly"\): worker_interval_secs must be a whole number from 1 to 3600/,
    );
    refused("poll every 2 hours", /worker interval of 7200 s \("every 2 hours"\)/);
    refused("poll every 0.5 seconds", /worker interval of 0.5 s/);
    refused(
      "poll every 5 minutes and every 10 minutes",
      /more than one worker interval: "every 5 minutes", "every 10 minutes"/,
    );
    refused("web app, health at /héalth", /^the prompt names health path "\/héalth": health_path must match/);
    refused("web app, health at /a/../etc", /health_path must not contain "\." or "\.\." segments/);
    refused(
      "web app with health at /healthz and /readyz",
      /more than one health path: "\/healthz", "\/readyz"/,
    );
  });

  test("an explicit --preset still wins, and the stated values stay", () => {
    const p = planHeuristically("a webhook receiver on port 9000 polling every minute", "python").plan;
    assert.equal(p.primaryPreset, "python");
    assert.equal(p.httpPort, 9000);
    assert.equal(p.workerIntervalSecs, 60);
  });

  test("runtimes without a preset say what the scaffold gives instead", () => {
    const grpc = planHeuristically("a gRPC service on 50051", undefined).origin.notes;
    assert.equal(grpc.length, 1);
    assert.match(grpc[0] as string, /^gRPC has no preset: the scaffold serves plain HTTP on port 50051/);
    assert.match(
      planHeuristically("an Express API", undefined).origin.notes[0] as string,
      /^Node\.js has no preset/,
    );
    assert.deepEqual(planHeuristically("a static site", undefined).origin.notes, []);
  });
});

describe("template init --prompt with stated values (real CLI)", () => {
  const env = {
    MVM_TEMPLATE_PROVIDER: undefined,
    OPENAI_API_KEY: undefined,
    MVM_TEMPLATE_LOCAL_BASE_URL: undefined,
    LOCALAI_BASE_URL: undefined,
  };

  test("the flake serves the stated port and checks the stated path", async () => {
    const parent = tempDir("mvm-init-");
    const prompt = "a static website on port 3000 with health at /healthz";
    const r = await runCli(
      ["template", "init", "site", "--local", "--dir", parent, "--prompt", prompt, "--json"],
      {
        dataDir: tempDir(),
        env,
      },
    );
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { plan: Record<string, unknown> };
    assert.equal(out.plan.primary_preset, "http");
    assert.equal(out.plan.http_port, 3000);
    assert.equal(out.plan.health_path, "/healthz");
    const flake = readFileSync(join(parent, "site", "flake.nix"), "utf8");
    assert.match(flake, /3000/);
    assert.match(flake, /\/healthz/);
    assert.doesNotMatch(flake, /8080/);
  });

  test("an impossible value exits 2 with one line and writes nothing", async () => {
    const parent = tempDir("mvm-init-");
    const r = await runCli(
      ["template", "init", "bk", "--local", "--dir", parent, "--prompt", "a nightly backup job"],
      { dataDir: tempDir(), env },
    );
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: the prompt asks for a worker interval of 86400 s \("nightly"\)/);
    assert.match(r.stderr, /^hint: State an interval of at most an hour/m);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });
});
