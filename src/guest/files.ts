import type { Readable, Writable } from "node:stream";
import { MvmError } from "../core/errors.js";
import type { GuestChannel, GuestFrame } from "./channel.js";
import { STREAM_CHUNK, STREAM_WINDOW } from "./exec.js";

// Guest files over the agent's file requests (docs/guest-protocol.md). Reads are streamed with the
// same window as exec output (acknowledged once written locally); writes keep at most one window of
// data ahead of what the agent has written to disk. The guest is untrusted: it never sends more
// bytes than it announced, and entry names it lists are checked by the caller before use.

export type GuestFileKind = "file" | "dir" | "symlink" | "other";

export interface GuestStat {
  kind: GuestFileKind;
  size: number;
  /** Permission bits (07777). */
  mode: number;
  uid: number;
  gid: number;
  mtime_ms: number;
  /** Symlinks: what the link points at. */
  target?: string | null;
}

export interface GuestEntry extends GuestStat {
  /** Relative to the listed directory, "/"-separated. */
  path: string;
}

function asStat(f: GuestFrame): GuestStat {
  const kind = f.kind;
  return {
    kind: kind === "file" || kind === "dir" || kind === "symlink" ? kind : "other",
    size: Number(f.size) || 0,
    mode: (Number(f.mode) || 0) & 0o7777,
    uid: Number(f.uid) || 0,
    gid: Number(f.gid) || 0,
    mtime_ms: Number(f.mtime_ms) || 0,
    ...(typeof f.target === "string" ? { target: f.target } : {}),
  };
}

export async function statGuest(ch: GuestChannel, path: string): Promise<GuestStat> {
  return asStat(await ch.request("stat", { path }));
}

/** Entries under `path` (recursively down to `depth` levels). */
export async function listGuest(ch: GuestChannel, path: string, depth = 1): Promise<GuestEntry[]> {
  const entries: GuestEntry[] = [];
  const take = (f: GuestFrame) => {
    if (!Array.isArray(f.entries)) return;
    for (const e of f.entries as GuestFrame[])
      if (typeof e.path === "string") entries.push({ ...asStat(e), path: e.path });
  };
  const s = ch.openStream("list", { path, depth }, take);
  take(await s.done);
  return entries;
}

export async function mkdirGuest(
  ch: GuestChannel,
  path: string,
  opts: { parents?: boolean; mode?: number } = {},
) {
  await ch.request("mkdir", {
    path,
    parents: opts.parents === true,
    ...(opts.mode !== undefined ? { mode: opts.mode } : {}),
  });
}

export async function removeGuest(ch: GuestChannel, path: string, opts: { recursive?: boolean } = {}) {
  await ch.request("remove", { path, recursive: opts.recursive === true });
}

export async function renameGuest(ch: GuestChannel, from: string, to: string): Promise<void> {
  await ch.request("rename", { from, to });
}

export interface ReadResult {
  /** The file's size when it was opened, and its permission bits. */
  size: number;
  mode: number;
  bytes: number;
}

/** Streams a guest file (or `length` bytes of it from `offset`) into `out`. */
export async function readGuestFile(
  ch: GuestChannel,
  path: string,
  out: Writable,
  range: { offset?: number; length?: number } = {},
): Promise<ReadResult> {
  let announced = -1;
  let size = 0;
  let mode = 0;
  let received = 0;
  let chain = Promise.resolve();
  let failure: Error | undefined;
  const s = ch.openStream(
    "read",
    {
      path,
      ...(range.offset ? { offset: range.offset } : {}),
      ...(range.length !== undefined ? { length: range.length } : {}),
    },
    (f) => {
      if (f.type === "read") {
        announced = Number(f.length);
        size = Number(f.size);
        mode = Number(f.mode) & 0o7777;
        return;
      }
      if (f.type !== "data" || typeof f.data !== "string" || failure) return;
      const data = Buffer.from(f.data, "base64");
      received += data.length;
      if (announced < 0 || received > announced) {
        failure = new MvmError(
          "external",
          `the guest sent more of ${path} than the ${announced} bytes it announced`,
        );
        return;
      }
      chain = chain.then(
        () =>
          new Promise<void>((res) => {
            out.write(data, (err) => {
              if (err) failure ??= err;
              else s.send("ack", { bytes: data.length });
              res();
            });
          }),
      );
    },
  );
  await s.done;
  await chain;
  if (failure) throw failure;
  if (received !== announced && announced >= 0 && received > announced)
    throw new MvmError("external", `the guest sent ${received} bytes of ${path}, announced ${announced}`);
  return { size, mode, bytes: received };
}

/** Streams `input` into a guest file, replacing it atomically (unless atomic: false) once complete. */
export async function writeGuestFile(
  ch: GuestChannel,
  path: string,
  input: Readable,
  opts: { mode?: number; parents?: boolean; atomic?: boolean } = {},
): Promise<number> {
  let acked = 0;
  let sent = 0;
  let wake: (() => void) | undefined;
  let opened = false;
  let openedWake: (() => void) | undefined;
  const s = ch.openStream(
    "write",
    {
      path,
      ...(opts.mode !== undefined ? { mode: opts.mode & 0o7777 } : {}),
      parents: opts.parents === true,
      ...(opts.atomic === false ? { atomic: false } : {}),
    },
    (f) => {
      if (f.type === "write") {
        opened = true;
        openedWake?.();
      } else if (f.type === "ack" && typeof f.bytes === "number") {
        acked += f.bytes;
        wake?.();
      }
    },
  );
  let finished = false;
  const done = s.done.finally(() => {
    finished = true;
    wake?.();
    openedWake?.();
  });
  done.catch(() => {});
  if (!opened)
    await new Promise<void>((r) => {
      openedWake = r;
      if (opened || finished) r();
    });
  try {
    for await (const chunk of input) {
      let buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
      while (buf.length > 0 && !finished) {
        while (sent - acked >= STREAM_WINDOW && !finished)
          await new Promise<void>((r) => {
            wake = r;
          });
        if (finished) break;
        const part = buf.subarray(0, STREAM_CHUNK);
        buf = buf.subarray(part.length);
        sent += part.length;
        if (!s.send("data", { data: part.toString("base64") })) await s.drained();
      }
      if (finished) break;
    }
  } catch (e) {
    // Local input failed: tell the agent to drop the temporary file, and report why.
    s.send("detach");
    throw e;
  }
  if (!finished) s.send("end");
  const last = await done;
  return Number(last.bytes) || 0;
}
