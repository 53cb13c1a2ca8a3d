import { posix } from "node:path";
import { Writable } from "node:stream";
import { GuestError, type GuestChannel } from "../../guest/channel.js";
import { startExec } from "../../guest/exec.js";
import { statGuest } from "../../guest/files.js";
import { ConnectError } from "./connect.js";
import type { GuestUser } from "./users.js";

// The agent writes files as root; what envd creates for a user belongs to that user, as in E2B.

/** Directories on the way to `dir` (itself included) that do not exist yet, outermost first. */
export async function missingDirs(ch: GuestChannel, dir: string): Promise<string[]> {
  const missing: string[] = [];
  for (let d = dir; d !== "/"; d = posix.dirname(d)) {
    try {
      await statGuest(ch, d);
      break;
    } catch (e) {
      if (!(e instanceof GuestError) || e.code !== "not_found") throw e;
      missing.unshift(d);
    }
  }
  return missing;
}

/** Makes `paths` belong to `user` (nothing to do for root). */
export async function giveToUser(ch: GuestChannel, paths: string[], user: GuestUser): Promise<void> {
  if (user.uid === 0 || paths.length === 0) return;
  let stderr = "";
  const sink = () => new Writable({ write: (_c, _e, cb) => cb() });
  const errSink = new Writable({
    write(c: Buffer, _e, cb) {
      if (stderr.length < 500) stderr += c.toString("utf8");
      cb();
    },
  });
  const run = startExec(
    ch,
    { argv: ["chown", "-h", `${user.uid}:${user.gid}`, "--", ...paths] },
    {
      stdout: sink(),
      stderr: errSink,
    },
  );
  const r = await run.result;
  if (r.code !== 0)
    throw new ConnectError(
      "internal",
      `could not give ${paths[0]} to ${user.name}: ${stderr.trim().slice(0, 200)}`,
    );
}
