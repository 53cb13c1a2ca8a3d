// Ctrl-C and SIGTERM during a build: undo what is half done (a staged revision directory, a flake.nix
// under --update-hash), then exit with the conventional status. Cleanups are synchronous because nothing
// asynchronous may run once we decide to exit. SIGKILL cannot be caught: staged directories carry a
// hidden temp name that the next build sweeps away, and `current` only ever moves last.

type Cleanup = () => void;

const cleanups = new Set<Cleanup>();
let installed = false;

function onSignal(signal: NodeJS.Signals): void {
  for (const c of [...cleanups].reverse()) {
    try {
      c();
    } catch {
      // Keep undoing the rest.
    }
  }
  cleanups.clear();
  process.exit(signal === "SIGINT" ? 130 : 143);
}

/** Registers a cleanup to run if the process is interrupted; returns its removal. */
export function onInterrupt(cleanup: Cleanup): () => void {
  if (!installed) {
    installed = true;
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  }
  cleanups.add(cleanup);
  return () => {
    cleanups.delete(cleanup);
    // With nothing left to undo, signals get their default meaning (or other handlers) back.
    if (cleanups.size === 0 && installed) {
      installed = false;
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
  };
}
