import { usageError } from "../../core/errors.js";
import { type Feature, PLAN_DEFAULTS, type TemplatePlan } from "../model.js";
import { type Fragment, nixStr, shellQuote } from "./nix-text.js";

// What each feature puts into the guest: services, health checks, users, packages. Two targets:
// "nixpkgs" (the default flake: programs from nixpkgs, like the original) and "offline" (only the guest
// kit: busybox applets on PATH). Commands are data for mkGuest, which escapes them into PID 1's script;
// here we only have to produce valid shell, with every value quoted.

export type Target = "nixpkgs" | "offline";

/** Features the offline guest kit can serve: it holds busybox, not Python or PostgreSQL. */
export const OFFLINE_FEATURES: readonly Feature[] = ["http", "worker"];

export interface ServiceDef {
  name: string;
  command: Fragment;
  preStart?: Fragment;
  env?: Record<string, string>;
  user?: string;
}

export interface HealthDef {
  name: string;
  cmd: Fragment;
  intervalSecs: number;
  timeoutSecs: number;
}

export interface UserDef {
  name: string;
  uid: number;
  group: string;
  home: string;
}

/** A `let` binding of the flake, e.g. the Python environment; `lines` are Nix code without user data. */
export interface LetBinding {
  name: string;
  lines: string[];
}

export interface GuestWorkload {
  packages: string[];
  lets: LetBinding[];
  services: ServiceDef[];
  healthChecks: HealthDef[];
  users: UserDef[];
}

/** The user mkGuest runs services as when a service names none (uid 900). */
export const SERVICE_USER = "mvm";
const WEB_ROOT = "/srv/www";
const WORKER_DIR = "/run/worker";
const PG_HOME = "/var/lib/postgresql";
const PG_DATA = `${PG_HOME}/data`;
const PG_SOCKET_DIR = "/run/postgresql";

/** Why `plan` cannot be built offline, or undefined. */
export function offlineProblem(plan: TemplatePlan): string | undefined {
  const missing = plan.features.filter((f) => !OFFLINE_FEATURES.includes(f));
  if (missing.length === 0) return undefined;
  return `--offline cannot serve ${missing.join(" and ")}: the offline guest kit has busybox only (offline presets: minimal, http, worker)`;
}

function healthUrl(port: number, path: string): string {
  return `http://127.0.0.1:${port}${path}`;
}

/**
 * The static web service answers its health path with a file, so the check passes: "/" is index.html,
 * "/a/" is a/index.html, "/a/b" is the file a/b.
 */
function webRootSetup(name: string, healthPath: string): Fragment {
  const lines = [
    `mkdir -p ${WEB_ROOT}`,
    `[ -f ${WEB_ROOT}/index.html ] || printf '%s\\n' ${shellQuote(`${name} is running`)} > ${WEB_ROOT}/index.html`,
  ];
  if (healthPath !== "/") {
    const file = healthPath.endsWith("/") ? `${WEB_ROOT}${healthPath}index.html` : `${WEB_ROOT}${healthPath}`;
    const dir = file.slice(0, file.lastIndexOf("/"));
    lines.push(`mkdir -p ${shellQuote(dir)}`, `[ -f ${shellQuote(file)} ] || echo ok > ${shellQuote(file)}`);
  }
  return [lines.join("\n")];
}

function httpCheck(target: Target, port: number, path: string): Fragment {
  const url = shellQuote(healthUrl(port, path));
  return target === "offline"
    ? [`wget -q -O /dev/null ${url}`]
    : [{ nix: "pkgs.curl" }, `/bin/curl -fsS -o /dev/null ${url}`];
}

/** Ports below 1024 need root to bind; the service user (uid 900) cannot. */
function privileged(port: number): boolean {
  return port < 1024;
}

function staticWeb(
  name: string,
  plan: TemplatePlan,
  target: Target,
): Pick<GuestWorkload, "services" | "healthChecks"> {
  const port = plan.httpPort ?? PLAN_DEFAULTS.httpPort;
  const path = plan.healthPath ?? PLAN_DEFAULTS.healthPath;
  // On a privileged port the server starts as root; busybox httpd then drops to the service user
  // itself once it has bound the port.
  const command: Fragment =
    target === "offline"
      ? [`httpd -f -p ${port}${privileged(port) ? ` -u ${SERVICE_USER}:${SERVICE_USER}` : ""} -h ${WEB_ROOT}`]
      : [{ nix: "pkgs.python3" }, `/bin/python3 -m http.server ${port} --directory ${WEB_ROOT}`];
  const web: ServiceDef = { name: "web", preStart: webRootSetup(name, path), command };
  if (privileged(port)) web.user = "root";
  return {
    services: [web],
    healthChecks: [{ name: "web", cmd: httpCheck(target, port, path), intervalSecs: 2, timeoutSecs: 3 }],
  };
}

function pythonApp(plan: TemplatePlan): Pick<GuestWorkload, "services" | "healthChecks"> {
  const port = plan.httpPort ?? PLAN_DEFAULTS.httpPort;
  const path = plan.healthPath ?? PLAN_DEFAULTS.healthPath;
  const entry = plan.pythonEntrypoint ?? PLAN_DEFAULTS.pythonEntrypoint;
  return {
    services: [
      {
        name: "app",
        command: [{ nix: "python" }, "/bin/python3 ", { nix: "appSrc" }, `/${shellQuote(entry)}`],
        env: { PORT: String(port), PYTHONUNBUFFERED: "1" },
        ...(privileged(port) ? { user: "root" } : {}),
      },
    ],
    healthChecks: [{ name: "app", cmd: httpCheck("nixpkgs", port, path), intervalSecs: 5, timeoutSecs: 3 }],
  };
}

function postgres(): Pick<GuestWorkload, "services" | "healthChecks" | "users"> {
  // preStart runs as root: it owns the data and socket directories to the postgres user (the original
  // never created that user, so its chown and su failed) and initialises the cluster once.
  const initdb: Fragment = [
    `mkdir -p ${PG_DATA} ${PG_SOCKET_DIR}\n`,
    `chown postgres:postgres ${PG_HOME} ${PG_DATA} ${PG_SOCKET_DIR}\n`,
    `chmod 700 ${PG_DATA}\n`,
    `if [ ! -f ${PG_DATA}/PG_VERSION ]; then\n`,
    "  su -s /bin/sh -c '",
    { nix: "pkgs.postgresql" },
    `/bin/initdb -D ${PG_DATA} --auth=trust --no-locale --encoding=UTF8' postgres\n`,
    "fi",
  ];
  return {
    users: [{ name: "postgres", uid: 71, group: "postgres", home: PG_HOME }],
    services: [
      {
        name: "postgres",
        user: "postgres",
        preStart: initdb,
        command: [
          { nix: "pkgs.postgresql" },
          `/bin/postgres -D ${PG_DATA} -k ${PG_SOCKET_DIR} -c listen_addresses=127.0.0.1`,
        ],
      },
    ],
    healthChecks: [
      {
        name: "postgres",
        cmd: [{ nix: "pkgs.postgresql" }, "/bin/pg_isready -q -h 127.0.0.1 -p 5432"],
        intervalSecs: 5,
        timeoutSecs: 5,
      },
    ],
  };
}

function worker(plan: TemplatePlan): Pick<GuestWorkload, "services" | "healthChecks"> {
  const every = plan.workerIntervalSecs ?? PLAN_DEFAULTS.workerIntervalSecs;
  // A heartbeat file holding the epoch seconds of the last tick, replaced atomically so the check never
  // reads half a number. Healthy while the last tick is at most two intervals (plus slack) old; the
  // original's check tested a file its loop never wrote.
  const beat = `${WORKER_DIR}/heartbeat`;
  const maxAge = 2 * every + 10;
  return {
    services: [
      {
        name: "worker",
        preStart: [`mkdir -p ${WORKER_DIR}\nchown ${SERVICE_USER}:${SERVICE_USER} ${WORKER_DIR}`],
        command: [
          `while true; do date +%s > ${beat}.tmp && mv ${beat}.tmp ${beat}; ` +
            `echo "[worker] tick $(date)"; sleep ${every}; done`,
        ],
      },
    ],
    healthChecks: [
      {
        name: "worker",
        cmd: [`test -f ${beat} && test $(( $(date +%s) - $(cat ${beat}) )) -le ${maxAge}`],
        intervalSecs: Math.min(every, 10),
        timeoutSecs: 5,
      },
    ],
  };
}

/** The guest for a plan. Blocks come in a fixed order: python or http, then postgres, then worker. */
export function workloadFor(name: string, plan: TemplatePlan, target: Target): GuestWorkload {
  if (target === "offline") {
    const problem = offlineProblem(plan);
    if (problem) throw usageError(problem);
  }
  const has = (f: Feature) => plan.features.includes(f);
  const w: GuestWorkload = { packages: [], lets: [], services: [], healthChecks: [], users: [] };
  const add = (part: Partial<GuestWorkload>) => {
    w.services.push(...(part.services ?? []));
    w.healthChecks.push(...(part.healthChecks ?? []));
    w.users.push(...(part.users ?? []));
  };
  if (has("python")) {
    w.lets.push(
      {
        name: "python",
        lines: [
          "# Python from nixpkgs; add libraries to the list, e.g. ps.fastapi ps.uvicorn ps.requests.",
          "python = pkgs.python3.withPackages (ps: [ ]);",
        ],
      },
      {
        name: "appSrc",
        lines: [`appSrc = builtins.path { path = ./app; name = ${nixStr(`${name}-app`)}; };`],
      },
    );
    w.packages.push("python");
    add(pythonApp(plan));
  } else if (has("http")) {
    if (target === "nixpkgs") w.packages.push("pkgs.python3");
    add(staticWeb(name, plan, target));
  }
  if (has("postgres")) {
    w.packages.push("pkgs.postgresql");
    add(postgres());
  }
  if (has("worker")) add(worker(plan));
  if (target === "nixpkgs") {
    if (plan.features.length === 0) w.packages.push("pkgs.curl", "pkgs.bash");
    else if (w.healthChecks.some((h) => h.cmd.some((p) => typeof p !== "string" && p.nix === "pkgs.curl")))
      w.packages.push("pkgs.curl");
  }
  return w;
}
