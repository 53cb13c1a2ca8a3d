import { type ChildProcess, spawn } from "node:child_process";
import { CLI } from "./lib.js";

// A real `mvmctl serve` for the benchmarks: started on the data dir of `env`, ready once it prints
// its socket.

export interface ServeProcess {
  child: ChildProcess;
  socket: string;
  /** SIGTERM (the daemon's VMs stay unless it was told otherwise), then wait for its exit. */
  stop(): Promise<void>;
}

export async function startServe(env: NodeJS.ProcessEnv, args: string[] = []): Promise<ServeProcess> {
  const child = spawn(process.execPath, [CLI, "serve", "--json", ...args], {
    env,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const line = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (d) => {
      out += d;
      if (out.includes("\n")) resolve(out.slice(0, out.indexOf("\n")));
    });
    child.once("exit", (code) => reject(new Error(`mvmctl serve exited (${code})`)));
  });
  return {
    child,
    socket: (JSON.parse(line) as { socket: string }).socket,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}
