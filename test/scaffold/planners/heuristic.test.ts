import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { inferFeatures, inferPreset, planHeuristically } from "../../../src/scaffold/planners/heuristic.js";

describe("heuristic planner", () => {
  test("preset priority: python > worker > http > postgres", () => {
    assert.equal(inferPreset("Python API worker with FastAPI"), "python");
    assert.equal(inferPreset("Background worker that polls an API every minute"), "worker");
    assert.equal(inferPreset("an HTTP api in front of a database"), "http");
    assert.equal(inferPreset("just a postgres database"), "postgres");
    assert.equal(inferPreset("a tiny vm with nothing in it"), "minimal");
  });

  test("features come in the fixed order python, http, postgres, worker", () => {
    assert.deepEqual(inferFeatures("Python API with PostgreSQL backing store"), [
      "python",
      "http",
      "postgres",
    ]);
    assert.deepEqual(inferFeatures("cron JOBS, a web server, and Django"), ["python", "http", "worker"]);
  });

  test("keywords match whole words (and plurals), not substrings", () => {
    assert.deepEqual(inferFeatures("a rapid prototype"), []); // "rapid" holds "api"
    assert.deepEqual(inferFeatures("a cobweb scraper"), []); // "cobweb" holds "web"
    assert.deepEqual(inferFeatures("observer pattern"), []); // "observer" holds "server"
    assert.deepEqual(inferFeatures("jobsite tracker"), []); // "jobsite" holds "job"
    assert.deepEqual(inferFeatures("two APIs and some queues"), ["http", "worker"]);
    assert.deepEqual(inferFeatures("FastAPI+Postgres"), ["python", "postgres"]);
  });

  test("the plan drops http when python is present and keeps every default", () => {
    const { plan, origin } = planHeuristically("python http api with postgres", undefined);
    assert.deepEqual(plan, {
      primaryPreset: "python",
      features: ["python", "postgres"],
      httpPort: 8080,
      healthPath: "/",
      workerIntervalSecs: 10,
      pythonEntrypoint: "main.py",
    });
    assert.equal(origin.mode, "heuristic");
    assert.equal(origin.provider, null);
  });

  test("an explicit preset wins and adds its feature", () => {
    const { plan } = planHeuristically("python web app", "postgres");
    assert.equal(plan.primaryPreset, "postgres");
    assert.deepEqual(plan.features, ["python", "postgres"]);
    assert.deepEqual(planHeuristically("nothing special", "worker").plan.features, ["worker"]);
    assert.deepEqual(planHeuristically("a web server", "python").plan.features, ["python"]);
  });
});
