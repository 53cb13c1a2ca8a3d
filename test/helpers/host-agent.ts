import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

// The real guest agent run on this host, serving its protocol on a unix socket: stands in for a guest
// where a test needs the agent but no VM (the Firecracker fake's vsock leads here, for one).

/** Starts the kit's agent with its config and run dirs under `workDir`, listening on `socket`. */
export function startHostAgent(kitDir: string, workDir: string, socket: string): ChildProcess {
  const cfg = join(workDir, "agent-cfg");
  const run = join(workDir, "agent-run");
  mkdirSync(cfg, { recursive: true });
  mkdirSync(run, { recursive: true });
  return spawn(
    join(kitDir, "mvm-agent"),
    // An init pid that cannot exist: the agent signals nobody when asked to restart services.
    ["--config-dir", cfg, "--run-dir", run, "--init-pid", "2147483647", "--listen-unix", socket, "serve"],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
}
