// The commands the keeper (keeper/main.ts) reads from mvmctl on stdin: one per line, "detach" (the
// VM may outlive mvmctl) or "kill"; end of input means mvmctl is gone.

export interface KeeperCommandHandlers {
  detach: () => void;
  kill: () => void;
  /** stdin closed: mvmctl exited or died. */
  end: () => void;
}

export function readKeeperCommands(h: KeeperCommandHandlers): void {
  let buf = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (d: string) => {
    buf += d;
    for (;;) {
      const nl = buf.indexOf("\n");
      if (nl < 0) break;
      const cmd = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (cmd === "detach") h.detach();
      else if (cmd === "kill") h.kill();
    }
  });
  process.stdin.on("end", h.end);
  process.stdin.on("error", () => {});
}
