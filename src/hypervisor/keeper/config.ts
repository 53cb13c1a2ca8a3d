/** What mvmctl hands the keeper (keeper/main.ts) as its one argument, JSON-encoded. */
export interface KeeperConfig {
  /** The hypervisor's argv; argv[0] is the program. */
  argv: string[];
  /** Its working directory (the VM directory); relative paths below resolve here. */
  cwd: string;
  /** The guest's console (the hypervisor's stdout, or `consoleSocket`), a bounded, rotated log. */
  console: string;
  /** Read the console from this socket the hypervisor listens on instead of from its stdout. */
  consoleSocket?: string;
  /** Bound of the console log and its one rotated predecessor together. */
  consoleMaxBytes: number;
  /** Where the hypervisor's own messages (stderr) go; without it they join the console log. */
  stderrLog?: string;
  /** Give the hypervisor a stdin pipe nobody writes to (QEMU's `-serial stdio`). */
  stdinPipe?: boolean;
  /** Removed when the VM ends without mvmctl watching (crash before detach, or after detach). */
  vmDir: string;
  /** The VM's TAP device, removed when the VM ends unwatched. */
  tap?: string;
  /** Wrap the hypervisor in `setpriv --pdeathsig KILL` (util-linux) so it cannot outlive the keeper. */
  setpriv?: string;
  /** Serve the guest agent's channel to many clients: both paths relative to cwd. */
  guestMux?: { listen: string; agent: string };
}
