import type { Readable, Writable } from "node:stream";
import { type GuestChannel, GuestError } from "./channel.js";
import {
  type GuestEntry,
  type GuestStat,
  listGuest,
  mkdirGuest,
  readGuestFile,
  removeGuest,
  renameGuest,
  statGuest,
  writeGuestFile,
} from "./files.js";

// The file operations a copy between the host and a guest needs, whoever carries them: the agent's
// stream on this host, or a daemon's files API. A copy written against this reads the same and fails
// with the same errors either way.

export interface GuestFs {
  /** What is at `path`, or undefined when nothing is. */
  stat(path: string): Promise<GuestStat | undefined>;
  /** Entries under `path`, down to `depth` levels. */
  list(path: string, depth: number): Promise<GuestEntry[]>;
  mkdir(path: string, opts: { mode?: number; parents?: boolean }): Promise<void>;
  remove(path: string, opts: { recursive?: boolean }): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** Streams `input` into a file; resolves with the bytes written. */
  write(path: string, input: Readable, opts: { mode?: number; atomic?: boolean }): Promise<number>;
  /** Streams a file into `out` (not ended); resolves with the bytes read. */
  read(path: string, out: Writable): Promise<number>;
}

/** The guest's files over an agent channel of this process. */
export function channelFs(ch: GuestChannel): GuestFs {
  return {
    stat: async (path) => {
      try {
        return await statGuest(ch, path);
      } catch (e) {
        if (e instanceof GuestError && e.code === "not_found") return undefined;
        throw e;
      }
    },
    list: (path, depth) => listGuest(ch, path, depth),
    mkdir: (path, opts) => mkdirGuest(ch, path, opts),
    remove: (path, opts) => removeGuest(ch, path, opts),
    rename: (from, to) => renameGuest(ch, from, to),
    write: (path, input, opts) =>
      writeGuestFile(ch, path, input, {
        ...(opts.mode !== undefined ? { mode: opts.mode } : {}),
        ...(opts.atomic !== undefined ? { atomic: opts.atomic } : {}),
      }),
    read: async (path, out) => (await readGuestFile(ch, path, out)).bytes,
  };
}
