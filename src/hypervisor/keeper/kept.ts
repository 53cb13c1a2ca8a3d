import type { KeeperConfig } from "./config.js";
import { type KeeperExit, startKeeper } from "./link.js";

// Who owns a hypervisor process. Either a keeper process of its own per VM (keeper/main.ts, started
// by every mvmctl command that starts a VM), or a long-lived process that keeps many VMs itself (the
// daemon, keeper/in-process.ts). The backend starts its hypervisor through one of them and sees the
// same handle either way.

/** One hypervisor process as its keeper reports it. */
export interface KeptProcess {
  /** The hypervisor's pid, once spawned; rejects if it could not run or ended at once. */
  readonly childPid: Promise<number>;
  /** Resolves when the hypervisor has exited. */
  readonly exited: Promise<void>;
  /** How the hypervisor ended, once it has (while this process watches). */
  readonly exit: KeeperExit | undefined;
  /** The per-VM keeper process, or undefined when a long-lived process (the daemon) keeps the VM. */
  readonly keeperPid: number | undefined;
  /** True until the hypervisor has ended. */
  readonly running: boolean;
  /** Kills the hypervisor now. */
  kill(): void;
  /** Hands the VM over: it keeps running when whoever started it goes away. */
  detach(): void;
}

export interface Keeper {
  /**
   * The keeper reads the guest's console from a socket the hypervisor listens on (`consoleSocket` in
   * KeeperConfig), not from the hypervisor's stdout: a console that survives the keeper's restart.
   */
  readonly readsConsoleSocket: boolean;
  start(cfg: KeeperConfig, label: string, env?: NodeJS.ProcessEnv): KeptProcess;
}

/** A keeper process per VM (keeper/main.ts). */
export const processKeeper: Keeper = {
  readsConsoleSocket: false,
  start: (cfg, label, env) => startKeeper(cfg, label, env),
};
