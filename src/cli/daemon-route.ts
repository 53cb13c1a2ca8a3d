import { connect } from "node:net";
import { join } from "node:path";
import { type ErrorKind, MvmError } from "../core/errors.js";
import { MvmError as ApiClientError } from "../sdk/errors.js";
import { type Call, callJson, type Endpoint, send } from "../sdk/transport.js";
import type { CliContext } from "./context.js";

// The CLI and a running daemon: when `mvmctl serve` listens on the data dir's socket, `up -d`, `ls`,
// `down`, `exec`, `cp` and `logs` go through it (so its events, limits and bookkeeping see them); otherwise, or with
// --no-daemon (or MVM_NO_DAEMON=1), they work on the VM directories directly. Either way the VMs are
// the same ordinary VMs.

export const NO_DAEMON_HELP = "work directly even if a daemon ('mvmctl serve') runs for this data dir";

/** Whether something accepts connections on `path` (a missing socket answers at once). */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** The data dir's daemon, unless told to work directly or none is running. */
export async function runningDaemon(
  ctx: CliContext,
  opts: { daemon?: boolean },
): Promise<Endpoint | undefined> {
  if (opts.daemon === false || /^(1|true|yes)$/i.test(process.env.MVM_NO_DAEMON?.trim() ?? ""))
    return undefined;
  const socket = join(ctx.paths.root, "mvmd.sock");
  return (await answers(socket)) ? { socket } : undefined;
}

const KIND_OF_STATUS: Record<number, ErrorKind> = {
  400: "usage",
  404: "not_found",
  409: "exists",
  413: "usage",
  422: "corrupt",
  429: "unsupported",
  504: "timeout",
  507: "unsupported",
};

/** A daemon's refusal as the CLI's own error (one line, the exit code of its kind). */
export function cliError(e: unknown): unknown {
  if (!(e instanceof ApiClientError)) return e;
  const kind: ErrorKind = e.status === 0 ? "network" : (KIND_OF_STATUS[e.status] ?? "external");
  return new MvmError(kind, e.message);
}

export async function daemonCall<T>(endpoint: Endpoint, call: Call): Promise<T> {
  try {
    return await callJson<T>(endpoint, call);
  } catch (e) {
    throw cliError(e);
  }
}

/** A call whose answer has no body worth reading (204). */
export async function daemonDo(endpoint: Endpoint, call: Call): Promise<void> {
  try {
    (await send(endpoint, call)).resume();
  } catch (e) {
    throw cliError(e);
  }
}
