import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

// The real guest agent run on this host, serving its protocol on a unix socket: stands in for a guest
// where a test needs the agent but no VM (the Firecracker fake's vsock leads here, for one).

export interface HostAgentOptions {
  /** The kit whose `mvm-agent` runs. */
  kitDir: string;
  /** Its config dir (health checks, users) and run dir; both are created when missing. */
  configDir: string;
  runDir: string;
  socket: string;
  /** More options, before `serve` (e.g. --ip-bin, --clock-file). */
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
}

export function startHostAgent(o: HostAgentOptions): ChildProcess {
  mkdirSync(o.configDir, { recursive: true });
  mkdirSync(o.runDir, { recursive: true });
  return spawn(
    join(o.kitDir, "mvm-agent"),
    [
      "--config-dir",
      o.configDir,
      "--run-dir",
      o.runDir,
      // An init pid that cannot exist: the agent signals nobody when asked to restart services.
      "--init-pid",
      "2147483647",
      "--listen-unix",
      o.socket,
      ...(o.extraArgs ?? []),
      "serve",
    ],
    { stdio: ["ignore", "ignore", "inherit"], ...(o.env ? { env: o.env } : {}) },
  );
}
