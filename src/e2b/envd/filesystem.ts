import { posix } from "node:path";
import type { IncomingMessage } from "node:http";
import { GuestError, type GuestChannel } from "../../guest/channel.js";
import { listGuest, mkdirGuest, removeGuest, renameGuest, statGuest } from "../../guest/files.js";
import { ConnectError } from "./connect.js";
import { entryInfo } from "./entry.js";
import { withGuest } from "./guest.js";
import { toConnectError } from "./guest-errors.js";
import type { EnvdTarget } from "./target.js";
import {
  type GuestAccounts,
  type GuestUser,
  guestAccounts,
  resolvePath,
  resolveUser,
  userFromAuthorization,
} from "./users.js";
import { giveToUser, missingDirs } from "./ownership.js";

// filesystem.Filesystem's unary calls over the agent's file requests. Directory watching has no
// counterpart in the agent, so its calls answer `unimplemented`.

/** Deepest ListDir the agent walks. */
export const MAX_LIST_DEPTH = 32;

export const WATCH_UNSUPPORTED =
  "watching directories is not supported by mvmctl sandboxes; poll with files.list or files.getInfo instead";

interface Ctx {
  ch: GuestChannel;
  accounts: GuestAccounts;
  user: GuestUser;
}

async function stat(ctx: Ctx, path: string) {
  try {
    return entryInfo(path, await statGuest(ctx.ch, path), ctx.accounts);
  } catch (e) {
    throw toConnectError(e, path);
  }
}

type Call = (ctx: Ctx, msg: Record<string, unknown>) => Promise<unknown>;

const CALLS: Record<string, Call> = {
  Stat: async (ctx, msg) => ({ entry: await stat(ctx, resolvePath(msg.path, ctx.user)) }),

  MakeDir: async (ctx, msg) => {
    const path = resolvePath(msg.path, ctx.user);
    const created = await missingDirs(ctx.ch, path).catch((e) => {
      throw toConnectError(e, path);
    });
    if (created.length === 0) {
      const st = await statGuest(ctx.ch, path);
      if (st.kind === "dir") throw new ConnectError("already_exists", `directory '${path}' already exists`);
      throw new ConnectError("invalid_argument", `path '${path}' already exists and is not a directory`);
    }
    try {
      await mkdirGuest(ctx.ch, path, { parents: true });
    } catch (e) {
      throw toConnectError(e, path);
    }
    await giveToUser(ctx.ch, created, ctx.user);
    return { entry: await stat(ctx, path) };
  },

  Move: async (ctx, msg) => {
    const from = resolvePath(msg.source, ctx.user, "source");
    const to = resolvePath(msg.destination, ctx.user, "destination");
    await stat(ctx, from);
    try {
      await renameGuest(ctx.ch, from, to);
    } catch (e) {
      throw toConnectError(
        e,
        e instanceof GuestError && e.code === "not_found" ? posix.dirname(to) : undefined,
      );
    }
    return { entry: await stat(ctx, to) };
  },

  ListDir: async (ctx, msg) => {
    const path = resolvePath(msg.path, ctx.user);
    const depth = msg.depth === undefined || msg.depth === 0 ? 1 : Number(msg.depth);
    if (!Number.isInteger(depth) || depth < 1 || depth > MAX_LIST_DEPTH)
      throw new ConnectError("invalid_argument", `depth must be an integer from 1 to ${MAX_LIST_DEPTH}`);
    const dir = await stat(ctx, path);
    if (dir.type !== "FILE_TYPE_DIRECTORY")
      throw new ConnectError("invalid_argument", `path '${path}' is not a directory`);
    const entries = await listGuest(ctx.ch, path, depth).catch((e) => {
      throw toConnectError(e, path);
    });
    return {
      entries: entries.map((e) => entryInfo(posix.join(path, e.path), e, ctx.accounts)),
    };
  },

  Remove: async (ctx, msg) => {
    const path = resolvePath(msg.path, ctx.user);
    if (path === "/") throw new ConnectError("invalid_argument", "the root directory cannot be removed");
    try {
      await removeGuest(ctx.ch, path, { recursive: true });
    } catch (e) {
      throw toConnectError(e, path);
    }
    return {};
  },
};

const WATCH_CALLS = new Set(["WatchDir", "CreateWatcher", "GetWatcherEvents", "RemoveWatcher"]);

export function isFilesystemCall(method: string): boolean {
  return method in CALLS || WATCH_CALLS.has(method);
}

/** Runs one unary Filesystem call (the watch calls are refused by the caller's check). */
export async function filesystemCall(
  target: EnvdTarget,
  req: IncomingMessage,
  method: string,
  msg: Record<string, unknown>,
): Promise<unknown> {
  const call = CALLS[method];
  if (!call) throw new ConnectError("unimplemented", WATCH_UNSUPPORTED);
  const name = userFromAuthorization(req);
  return withGuest(target, async (ch, vmKey) => {
    const accounts = await guestAccounts(ch, vmKey);
    return call({ ch, accounts, user: resolveUser(accounts, name) }, msg);
  });
}
