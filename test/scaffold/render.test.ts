// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these tests feed literal Nix antiquotations ("${…}") as hostile input.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { writeScaffold } from "../../src/scaffold/files.js";
import {
  type PlannedTemplate,
  type Preset,
  PRESETS,
  presetPlan,
  type TemplatePlan,
} from "../../src/scaffold/model.js";
import { type FlakeInputs, hostnameFor } from "../../src/scaffold/render/flake.js";
import { escapeNixString, nixStr, shellQuote } from "../../src/scaffold/render/nix-text.js";
import { renderScaffold } from "../../src/scaffold/scaffold.js";
import type { Target } from "../../src/scaffold/render/workloads.js";
import { tempDir } from "../helpers/cli.js";
import { type GuestArgs, mkGuestArgs, nixEvalJson, nixParse, shellSyntaxErrors } from "./guest-text.js";

function planned(plan: TemplatePlan, mode: "preset" | "llm" = "preset"): PlannedTemplate {
  return {
    plan,
    origin: { mode, provider: null, model: null, summary: "SUMMARY-MARKER", notes: ["NOTE-MARKER"] },
  };
}

function inputsFor(target: Target): FlakeInputs {
  return target === "offline" ? { version: "1.2.3", system: "x86_64-linux" } : { version: "1.2.3" };
}

/** Renders and writes a scaffold, then parses it, evaluates it and syntax-checks every shell fragment. */
async function renderAndCheck(
  name: string,
  p: PlannedTemplate,
  target: Target,
  prompt?: string,
): Promise<{ dir: string; flake: string; args: GuestArgs }> {
  const dir = join(tempDir("mvm-render-"), name);
  const files = renderScaffold(name, p, prompt, target, inputsFor(target));
  await writeScaffold(dir, files, { force: false });
  const flake = readFileSync(join(dir, "flake.nix"), "utf8");
  await nixParse(join(dir, "flake.nix"));
  const args = await mkGuestArgs(dir, "x86_64-linux");
  if (target === "nixpkgs") {
    const arm = await mkGuestArgs(dir, "aarch64-linux");
    assert.deepEqual(arm.services, args.services, "both systems get the same guest");
  }
  assert.equal(args.hasKit, target === "offline");
  assert.equal(args.hasPkgs, target === "nixpkgs");
  const fragments = [
    ...Object.values(args.services).flatMap((s) => [s.command, s.preStart ?? ""]),
    ...Object.values(args.healthChecks).map((h) => h.healthCmd),
  ];
  for (const f of fragments) assert.deepEqual(await shellSyntaxErrors(f), [], `shell fragment: ${f}`);
  assert.ok(
    !flake.includes("SUMMARY-MARKER") && !flake.includes("NOTE-MARKER"),
    "summary/notes stay out of Nix",
  );
  return { dir, flake, args };
}

const OFFLINE_PRESETS: Preset[] = ["minimal", "http", "worker"];

describe("flake rendering", () => {
  for (const preset of PRESETS)
    test(`preset ${preset} (nixpkgs) parses, evaluates, uses the template name, and its shell is valid`, async () => {
      const { dir, flake, args } = await renderAndCheck("demo-app", planned(presetPlan(preset)), "nixpkgs");
      assert.equal(args.name, "demo-app");
      assert.equal(args.hostname, "demo-app");
      assert.match(flake, /^ {4}mvm\.url = "github:mvmctl\/mvmctl\/v1\.2\.3\?dir=nix";$/m);
      assert.doesNotMatch(flake, /path:|(url|path) = "\//, "names no path on the host");
      assert.match(flake, /nixpkgs\.url = "github:NixOS\/nixpkgs\/nixos-25\.11";/);
      assert.doesNotMatch(flake, /my-vm|my-\w+-vm/, "no placeholder names");
      const services = Object.keys(args.services).sort();
      const expected: Record<Preset, string[]> = {
        minimal: [],
        http: ["web"],
        postgres: ["postgres"],
        worker: ["worker"],
        python: ["app"],
      };
      assert.deepEqual(services, expected[preset]);
      assert.deepEqual(Object.keys(args.healthChecks).sort(), expected[preset]);
      if (preset === "python")
        assert.match(readFileSync(join(dir, "app", "main.py"), "utf8"), /HEALTH_PATH = "\/"/);
    });

  for (const preset of OFFLINE_PRESETS)
    test(`preset ${preset} (offline) names the release's library and a kit stand-in, no nixpkgs, busybox commands`, async () => {
      const { flake, args } = await renderAndCheck("demo", planned(presetPlan(preset)), "offline");
      assert.doesNotMatch(flake, /nixpkgs[.,]|https?:\/\/(?!127\.0\.0\.1)/, "no nixpkgs, no URLs");
      assert.doesNotMatch(flake, /path:|(url|path) = "\//, "names no path on the host");
      assert.match(flake, /^ {4}mvm\.url = "github:mvmctl\/mvmctl\/v1\.2\.3\?dir=nix";$/m);
      assert.match(flake, /^ {4}mvm-kit = \{ url = "github:mvmctl\/mvmctl\/v1\.2\.3"; flake = false; \};$/m);
      assert.match(flake, /packages\.\$\{system\}\.default = mvm\.lib\.\$\{system\}\.mkGuest/);
      for (const s of Object.values(args.services)) assert.doesNotMatch(s.command, /\/nix\/store/);
    });

  test("http (offline): busybox httpd on 8080, checked with wget on the health path", async () => {
    const { args } = await renderAndCheck("web1", planned(presetPlan("http")), "offline");
    assert.equal(args.services.web?.command, "httpd -f -p 8080 -h /srv/www");
    assert.equal(args.healthChecks.web?.healthCmd, "wget -q -O /dev/null http://127.0.0.1:8080/");
  });

  test("worker: the command keeps its quotes and $(…) intact, and writes the heartbeat its check reads", async () => {
    const plan = { ...presetPlan("worker"), workerIntervalSecs: 30 };
    const { args } = await renderAndCheck("w", planned(plan), "offline");
    const cmd = args.services.worker?.command ?? "";
    assert.match(cmd, /echo "\[worker\] tick \$\(date\)"/);
    assert.match(cmd, /sleep 30; done$/);
    assert.match(
      cmd,
      /> \/run\/worker\/heartbeat\.tmp && mv \/run\/worker\/heartbeat\.tmp \/run\/worker\/heartbeat/,
    );
    assert.match(args.healthChecks.worker?.healthCmd ?? "", /cat \/run\/worker\/heartbeat\) \)\) -le 70$/);
    assert.match(args.services.worker?.preStart ?? "", /chown mvm:mvm \/run\/worker/);
  });

  test("postgres: a postgres user owns the data and socket dirs, the service runs as it", async () => {
    const { args } = await renderAndCheck("pg", planned(presetPlan("postgres")), "nixpkgs");
    assert.deepEqual(args.users.postgres, { uid: 71, group: "postgres", home: "/var/lib/postgresql" });
    assert.equal(args.services.postgres?.user, "postgres");
    assert.match(args.services.postgres?.preStart ?? "", /chown postgres:postgres .*\/run\/postgresql/);
    assert.match(args.services.postgres?.preStart ?? "", /initdb -D \/var\/lib\/postgresql\/data/);
  });

  test("prompt combination python + postgres with custom port, path and entry", async () => {
    const plan: TemplatePlan = {
      primaryPreset: "python",
      features: ["python", "postgres"],
      httpPort: 9090,
      healthPath: "/healthz",
      workerIntervalSecs: 10,
      pythonEntrypoint: "server.py",
    };
    const { dir, flake, args } = await renderAndCheck(
      "analytics-worker",
      planned(plan, "llm"),
      "nixpkgs",
      "p",
    );
    for (const s of [
      "services.app",
      "services.postgres",
      "pkgs.postgresql",
      "healthChecks.postgres",
      "${appSrc}/server.py",
    ])
      assert.ok(flake.includes(s), `flake mentions ${s}`);
    assert.match(
      args.healthChecks.app?.healthCmd ?? "",
      /curl -fsS -o \/dev\/null http:\/\/127\.0\.0\.1:9090\/healthz$/,
    );
    assert.deepEqual(args.services.app?.env, { PORT: "9090", PYTHONUNBUFFERED: "1" });
    assert.match(args.services.app?.command ?? "", /-analytics-worker-app\/server\.py$/);
    const app = readFileSync(join(dir, "app", "server.py"), "utf8");
    assert.match(app, /PORT = int\(os\.environ\.get\("PORT", "9090"\)\)/);
    assert.match(app, /HEALTH_PATH = "\/healthz"/);
    const meta = JSON.parse(readFileSync(join(dir, "mvm-template-prompt.json"), "utf8"));
    assert.equal(meta.summary, "SUMMARY-MARKER");
  });

  test("prompt combination http + worker offline, health path in a subdirectory", async () => {
    const plan: TemplatePlan = {
      primaryPreset: "worker",
      features: ["http", "worker"],
      httpPort: 8081,
      healthPath: "/status/ready",
      workerIntervalSecs: 5,
      pythonEntrypoint: null,
    };
    const { args } = await renderAndCheck("combo", planned(plan, "llm"), "offline", "p");
    assert.deepEqual(Object.keys(args.services).sort(), ["web", "worker"]);
    assert.match(
      args.services.web?.preStart ?? "",
      /mkdir -p \/srv\/www\/status\n\[ -f \/srv\/www\/status\/ready \] \|\| echo ok/,
    );
    assert.equal(args.healthChecks.web?.healthCmd, "wget -q -O /dev/null http://127.0.0.1:8081/status/ready");
  });

  test("every prompt-rendered combination of features parses and has valid shell", async () => {
    const combos: [Preset, TemplatePlan["features"]][] = [
      ["python", ["python", "postgres", "worker"]],
      ["http", ["http", "postgres", "worker"]],
      ["postgres", ["postgres", "worker"]],
      ["minimal", []],
    ];
    for (const [primaryPreset, features] of combos) {
      const plan: TemplatePlan = { ...presetPlan(primaryPreset), features };
      const { args } = await renderAndCheck(`c-${primaryPreset}`, planned(plan, "llm"), "nixpkgs", "p");
      assert.equal(Object.keys(args.services).length, features.length);
    }
  });

  test("the guest's host name is a valid label even when the template name is not", async () => {
    assert.equal(hostnameFor("my_app-"), "my-app");
    assert.equal(hostnameFor("a__b"), "a-b");
    assert.equal(hostnameFor("9lives"), "9lives");
    const { args } = await renderAndCheck("web_app-", planned(presetPlan("http")), "offline");
    assert.equal(args.name, "web_app-");
    assert.equal(args.hostname, "web-app");
  });

  test("a privileged port runs the server as root (busybox httpd drops to mvm after binding)", async () => {
    const plan: TemplatePlan = { ...presetPlan("http"), httpPort: 80 };
    const off = await renderAndCheck("port80", planned(plan, "llm"), "offline", "p");
    assert.equal(off.args.services.web?.user, "root");
    assert.equal(off.args.services.web?.command, "httpd -f -p 80 -u mvm:mvm -h /srv/www");
    const py = await renderAndCheck(
      "py80",
      planned({ ...presetPlan("python"), httpPort: 443 }, "llm"),
      "nixpkgs",
      "p",
    );
    assert.equal(py.args.services.app?.user, "root");
    const normal = await renderAndCheck("py8080", planned(presetPlan("python")), "nixpkgs");
    assert.equal(normal.args.services.app?.user, null, "unprivileged ports keep the service user");
  });

  test("offline refuses python and postgres before rendering", () => {
    for (const preset of ["python", "postgres"] as const)
      assert.throws(
        () => renderScaffold("x", planned(presetPlan(preset)), undefined, "offline", inputsFor("offline")),
        /--offline cannot serve/,
      );
  });

  test("Nix string escaping: hostile text survives evaluation unchanged", async () => {
    const hostile = [
      'it\'s "quoted" and \\ backslashed',
      "${builtins.currentTime} and $${x} and $(rm -rf /) and `id`",
      "line one\nline two\ttab\r\n",
      "'' double single quotes '' and ''${x}",
      "ünïcødé ✓",
    ];
    const got = await nixEvalJson(`[ ${hostile.map((h) => nixStr(h)).join(" ")} ]`);
    assert.deepEqual(got, hostile);
    assert.equal(escapeNixString("${x}"), "\\${x}");
  });

  test("shell quoting keeps a value one word, unchanged", async () => {
    const tricky = "a 'b' \"c\" $d `e` \\f\ng";
    const { execFileSync } = await import("node:child_process");
    for (const sh of [["sh"], ["busybox", "sh"]] as const) {
      const out = execFileSync(sh[0], [...sh.slice(1), "-c", `printf %s ${shellQuote(tricky)}`]).toString();
      assert.equal(out, tricky);
    }
  });

  test("existing files are kept, --force overwrites, and a failure removes what was created", async () => {
    const dir = join(tempDir("mvm-files-"), "t");
    const files = renderScaffold(
      "t",
      planned(presetPlan("http")),
      undefined,
      "nixpkgs",
      inputsFor("nixpkgs"),
    );
    mkdirSync(dir);
    writeFileSync(join(dir, "flake.nix"), "# mine\n");
    const first = await writeScaffold(dir, files, { force: false });
    assert.deepEqual(
      first.map((f) => `${f.status}:${f.path}`),
      ["written:.gitignore", "kept:flake.nix", "written:README.md", "written:mvm.toml"],
    );
    assert.equal(readFileSync(join(dir, "flake.nix"), "utf8"), "# mine\n");
    const forced = await writeScaffold(dir, files, { force: true });
    assert.deepEqual(
      forced.map((f) => f.status),
      ["overwritten", "overwritten", "overwritten", "overwritten"],
    );
    assert.match(readFileSync(join(dir, "flake.nix"), "utf8"), /mkGuest/);

    // A directory where a file must go makes the whole write fail; nothing new is left behind.
    const parent = tempDir("mvm-files-");
    const blocked = join(parent, "b");
    mkdirSync(join(blocked, "README.md"), { recursive: true });
    await assert.rejects(writeScaffold(blocked, files, { force: false }), /not a regular file/);
    const { readdirSync } = await import("node:fs");
    assert.deepEqual(readdirSync(blocked), ["README.md"]);
    const fresh = join(parent, "fresh", "deeper");
    await assert.rejects(
      writeScaffold(fresh, [...files, { path: "app", content: "" }, { path: "app/x.py", content: "" }], {
        force: false,
      }),
    );
    assert.deepEqual(readdirSync(parent).sort(), ["b"], "directories this call created are removed");

    // A temp file a killed run left behind (its pid is gone) is swept; a symlinked directory is used.
    const real = join(parent, "real");
    mkdirSync(real);
    writeFileSync(join(real, ".flake.nix.tmp-999999999-0123abcd"), "half");
    const { symlinkSync } = await import("node:fs");
    symlinkSync(real, join(parent, "link"));
    await writeScaffold(join(parent, "link"), files, { force: false });
    assert.deepEqual(readdirSync(real).sort(), [".gitignore", "README.md", "flake.nix", "mvm.toml"]);
  });
});
