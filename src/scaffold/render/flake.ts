import { kitPlaceholderRef, libraryFlakeRef } from "../../core/library-ref.js";
import { assertRenderablePlan } from "../plan.js";
import type { PlanOrigin, TemplatePlan } from "../model.js";
import { indent, nixAttr, nixFragment, nixStr } from "./nix-text.js";
import { type GuestWorkload, type Target, workloadFor } from "./workloads.js";

// Renders flake.nix. Two shapes share one workload description (workloads.ts):
// - default: nixpkgs plus our Nix library, with packages for both systems mkGuest supports, so the host's
//   system (x86_64-linux or aarch64-linux) is always there (the original hard-coded aarch64-linux);
// - offline: our Nix library and the guest kit only, for the kit's system.
// Neither names a path on this host: the library is the published flake of the release that wrote the
// scaffold, the kit a stand-in, and `mvmctl build` points both at this machine's copies
// (--override-input), so the project builds offline from any checkout directory and keeps building
// after mvmctl or its data dir moves.

export const NIXPKGS_URL = "github:NixOS/nixpkgs/nixos-25.11";
export const SYSTEMS = ["x86_64-linux", "aarch64-linux"] as const;
export type NixSystem = (typeof SYSTEMS)[number];

export interface FlakeInputs {
  /** The mvmctl version writing the scaffold: the release whose library the flake names. */
  version: string;
  /** Offline only: the kit's system. */
  system?: NixSystem;
}

export interface FlakeRequest {
  name: string;
  plan: TemplatePlan;
  origin: PlanOrigin;
  target: Target;
  inputs: FlakeInputs;
}

const LIBRARY_COMMENT = [
  "# mvmctl's Nix library (mkGuest) as published with this release. `mvmctl build` uses the copy",
  "# installed with it instead (--override-input mvm), so a build needs no network for it.",
];

const KIT_COMMENT = [
  "# The offline guest kit (kernel, modules, busybox, agent) is built on each machine from its own",
  "# packages, so no published reference holds it: `mvmctl build` points this input at this",
  "# machine's kit (--override-input mvm-kit; `mvmctl kit build` prints where it is).",
];

function description(name: string, plan: TemplatePlan, origin: PlanOrigin): string {
  const how =
    origin.mode === "preset" ? `${plan.primaryPreset} preset` : `${plan.primaryPreset} prompt scaffold`;
  return `mvm microVM template ${name} (${how})`;
}

/** The Nix antiquotation of `system`, spelled out so it never reads as a JS template placeholder. */
const SYS = "$" + "{system}";

const NO_SERVICES_HINT = [
  "# Add supervised services here; each runs in a restart loop as the user mvm, e.g.:",
  '# services.my-service = { command = "my-program --port 8080"; preStart = "mkdir -p /var/lib/my-service"; };',
  "# and a health check that the snapshot waits for before saving:",
  '# healthChecks.my-service = { healthCmd = "wget -q -O /dev/null http://127.0.0.1:8080/"; healthIntervalSecs = 2; healthTimeoutSecs = 2; };',
];

/**
 * A host name (RFC 1123 label) for a template name: template names may hold "_" and end in "-", host
 * names may not, and mkGuest refuses an invalid one.
 */
export function hostnameFor(name: string): string {
  const label = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .slice(0, 63)
    .replace(/^-+|-+$/g, "");
  return label || "mvm";
}

/** The attribute set passed to mkGuest, without the braces. */
function mkGuestBody(name: string, w: GuestWorkload, target: Target): string {
  const out: string[] = [];
  out.push(target === "offline" ? "kit = mvm-kit;" : "inherit pkgs;");
  out.push(`name = ${nixStr(name)};`, `hostname = ${nixStr(hostnameFor(name))};`);
  if (w.packages.length > 0) out.push("", `packages = [ ${[...new Set(w.packages)].join(" ")} ];`);
  for (const u of w.users) {
    out.push(
      "",
      `users.${nixAttr(u.name)} = { uid = ${u.uid}; group = ${nixStr(u.group)}; home = ${nixStr(u.home)}; };`,
    );
  }
  out.push("");
  if (w.services.length === 0) out.push(...NO_SERVICES_HINT);
  for (const s of w.services) {
    const lines = [`services.${nixAttr(s.name)} = {`];
    if (s.user) lines.push(`  user = ${nixStr(s.user)};`);
    if (s.preStart) lines.push(`  preStart = ${nixFragment(s.preStart)};`);
    lines.push(`  command = ${nixFragment(s.command)};`);
    if (s.env) {
      const env = Object.entries(s.env).map(([k, v]) => `${nixAttr(k)} = ${nixStr(v)};`);
      lines.push(`  env = { ${env.join(" ")} };`);
    }
    lines.push("};");
    out.push(...lines);
  }
  for (const h of w.healthChecks) {
    out.push(
      `healthChecks.${nixAttr(h.name)} = {`,
      `  healthCmd = ${nixFragment(h.cmd)};`,
      `  healthIntervalSecs = ${h.intervalSecs};`,
      `  healthTimeoutSecs = ${h.timeoutSecs};`,
      "};",
    );
  }
  return out.join("\n");
}

function letBlock(w: GuestWorkload): string {
  return w.lets.flatMap((l) => l.lines).join("\n");
}

function nixpkgsFlake(req: FlakeRequest, w: GuestWorkload): string {
  const lets = letBlock(w);
  const guest = `default = mvm.lib.${SYS}.mkGuest {\n${indent(mkGuestBody(req.name, w, "nixpkgs"), 2)}\n};`;
  const perSystem = lets
    ? `let\n${indent(lets, 2)}\nin {\n${indent(guest, 2)}\n}`
    : `{\n${indent(guest, 2)}\n}`;
  return [
    "{",
    `  description = ${nixStr(description(req.name, req.plan, req.origin))};`,
    "",
    "  inputs = {",
    ...LIBRARY_COMMENT.map((l) => `    ${l}`),
    `    mvm.url = ${nixStr(libraryFlakeRef(req.inputs.version))};`,
    `    nixpkgs.url = ${nixStr(NIXPKGS_URL)};`,
    "  };",
    "",
    "  outputs = { self, mvm, nixpkgs, ... }:",
    "    let",
    "      # Both systems mkGuest supports: `nix build .#default` picks the host's.",
    `      systems = [ ${SYSTEMS.map((s) => nixStr(s)).join(" ")} ];`,
    `      forEachSystem = f: nixpkgs.lib.genAttrs systems (system: f system nixpkgs.legacyPackages.${SYS});`,
    "    in {",
    "      packages = forEachSystem (system: pkgs:",
    indent(perSystem, 8),
    "      );",
    "    };",
    "}",
    "",
  ].join("\n");
}

function offlineFlake(req: FlakeRequest, w: GuestWorkload): string {
  const { system, version } = req.inputs;
  if (!system) throw new Error("offline flake needs the kit's system");
  return [
    "{",
    `  description = ${nixStr(description(req.name, req.plan, req.origin))};`,
    "",
    "  # No nixpkgs: with the inputs `mvmctl build` supplies, this builds with no network.",
    "  inputs = {",
    ...LIBRARY_COMMENT.map((l) => `    ${l}`),
    `    mvm.url = ${nixStr(libraryFlakeRef(version))};`,
    ...KIT_COMMENT.map((l) => `    ${l}`),
    `    mvm-kit = { url = ${nixStr(kitPlaceholderRef(version))}; flake = false; };`,
    "  };",
    "",
    "  outputs = { self, mvm, mvm-kit, ... }:",
    "    let",
    `      system = ${nixStr(system)};`,
    "    in {",
    `      packages.${SYS}.default = mvm.lib.${SYS}.mkGuest {`,
    indent(mkGuestBody(req.name, w, "offline"), 8),
    "      };",
    "    };",
    "}",
    "",
  ].join("\n");
}

export function renderFlake(req: FlakeRequest): string {
  assertRenderablePlan(req.plan);
  const w = workloadFor(req.name, req.plan, req.target);
  return req.target === "offline" ? offlineFlake(req, w) : nixpkgsFlake(req, w);
}
