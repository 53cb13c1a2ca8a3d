import { execFile } from "node:child_process";
import { promisify } from "node:util";

// Checks generated text with the real tools: the Nix parser and evaluator (Debian nix-bin) and the
// shells the guest uses (busybox sh) plus dash.

const run = promisify(execFile);

/** `nix-instantiate --parse`: rejects when the file is not valid Nix. */
export async function nixParse(file: string): Promise<void> {
  await run("nix-instantiate", ["--parse", file], { maxBuffer: 16 << 20 });
}

/** Evaluates a Nix expression to JSON with `nix-instantiate --eval --strict --json`. */
export async function nixEvalJson(expr: string, cwd?: string): Promise<unknown> {
  const { stdout } = await run(
    "nix-instantiate",
    ["--eval", "--strict", "--json", "--option", "build-users-group", "", "-E", expr],
    { maxBuffer: 16 << 20, ...(cwd ? { cwd } : {}) },
  );
  return JSON.parse(stdout);
}

/** Syntax-checks a shell fragment with `sh -n` (dash) and `busybox sh -n`; returns the errors. */
export async function shellSyntaxErrors(script: string): Promise<string[]> {
  const errors: string[] = [];
  for (const [cmd, args] of [
    ["sh", ["-n", "-c", script]],
    ["busybox", ["sh", "-n", "-c", script]],
  ] as const) {
    try {
      await run(cmd, [...args]);
    } catch (e) {
      errors.push(`${cmd}: ${(e as { stderr?: string }).stderr ?? String(e)}`);
    }
  }
  return errors;
}

export interface GuestArgs {
  name: string;
  hostname: string;
  services: Record<
    string,
    { command: string; preStart: string | null; user: string | null; env: Record<string, string> | null }
  >;
  healthChecks: Record<string, { healthCmd: string; healthIntervalSecs: number; healthTimeoutSecs: number }>;
  users: Record<string, { uid: number; group: string; home: string }>;
  hasKit: boolean;
  hasPkgs: boolean;
}

/**
 * Evaluates a generated flake.nix with stand-in inputs (mkGuest returns its arguments; nixpkgs packages
 * are store-path-like strings) and returns what it would pass to mkGuest for `system`: the exact
 * strings the guest will run, after Nix has unescaped them.
 */
export async function mkGuestArgs(flakeDir: string, system: string): Promise<GuestArgs> {
  const expr = `
    let
      flake = import ${JSON.stringify(`${flakeDir}/flake.nix`)};
      fake = n: { outPath = "/nix/store/00000000000000000000000000000000-" + n; };
      pkgs = {
        curl = fake "curl"; bash = fake "bash"; coreutils = fake "coreutils";
        postgresql = fake "postgresql";
        python3 = fake "python3" // { withPackages = f: fake "python3-env"; };
      };
      mkGuest = args: args;
      mvm = { lib = { x86_64-linux.mkGuest = mkGuest; aarch64-linux.mkGuest = mkGuest; inherit mkGuest; }; };
      nixpkgs = {
        lib.genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
        legacyPackages = { x86_64-linux = pkgs; aarch64-linux = pkgs; };
      };
      out = flake.outputs { self = { }; inherit mvm nixpkgs; mvm-kit = { outPath = "/kit"; }; };
      g = out.packages.${system}.default;
    in {
      inherit (g) name hostname;
      services = builtins.mapAttrs (n: s: {
        command = s.command; preStart = s.preStart or null; user = s.user or null; env = s.env or null;
      }) (g.services or { });
      healthChecks = builtins.mapAttrs (n: c: {
        inherit (c) healthCmd healthIntervalSecs healthTimeoutSecs;
      }) (g.healthChecks or { });
      users = g.users or { };
      hasKit = g ? kit;
      hasPkgs = g ? pkgs;
    }`;
  return (await nixEvalJson(expr)) as GuestArgs;
}
