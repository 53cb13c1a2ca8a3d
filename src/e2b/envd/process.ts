import type { IncomingMessage, ServerResponse } from "node:http";
import { listGuestProcesses, signalGuestProcess } from "../../guest/exec.js";
import {
  ConnectError,
  ConnectStream,
  keepaliveSeconds,
  readEnvelopes,
  readStreamRequest,
  requestTimeoutMs,
} from "./connect.js";
import { openGuest, withGuest } from "./guest.js";
import { toConnectError } from "./guest-errors.js";
import { findTracked, type ProcessConfig, type ProcessEnd, TrackedProcess, track } from "./process-table.js";
import type { EnvdTarget } from "./target.js";
import { guestAccounts, resolvePath, resolveUser, userFromAuthorization } from "./users.js";

// process.Process: commands run by the guest agent's exec, their output streamed as ProcessEvents
// (start with the guest pid, data as base64, end with the exit status). A Start stream that the
// client leaves does not stop its process; Connect watches it again, and the unary calls reach it
// by pid or tag. A Connect-Timeout-Ms on Start bounds the command: it is killed when it runs out.

const MAX_ARGS = 1024;
const MAX_ENVS = 1024;
const MAX_TAG = 256;

type Json = Record<string, unknown>;

function obj(v: unknown, what: string): Json {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v))
    throw new ConnectError("invalid_argument", `${what} must be an object`);
  return v as Json;
}

function parseConfig(v: unknown): ProcessConfig {
  const p = obj(v, "process");
  if (typeof p.cmd !== "string" || p.cmd === "" || p.cmd.includes("\0"))
    throw new ConnectError("invalid_argument", "process.cmd must be a non-empty string");
  const args = p.args ?? [];
  if (
    !Array.isArray(args) ||
    args.length > MAX_ARGS ||
    args.some((a) => typeof a !== "string" || a.includes("\0"))
  )
    throw new ConnectError(
      "invalid_argument",
      `process.args must be at most ${MAX_ARGS} strings without NUL`,
    );
  const envs: Record<string, string> = {};
  const e = obj(p.envs, "process.envs");
  if (Object.keys(e).length > MAX_ENVS)
    throw new ConnectError("invalid_argument", `process.envs holds more than ${MAX_ENVS} variables`);
  for (const [k, val] of Object.entries(e)) {
    if (!/^[^=\0]+$/.test(k) || typeof val !== "string" || val.includes("\0"))
      throw new ConnectError("invalid_argument", "process.envs must map names (no '=') to strings");
    envs[k] = val;
  }
  if (p.cwd !== undefined && typeof p.cwd !== "string")
    throw new ConnectError("invalid_argument", "process.cwd must be a string");
  return { cmd: p.cmd, args: args as string[], envs, ...(p.cwd ? { cwd: p.cwd } : {}) };
}

function parsePtySize(v: unknown): { rows: number; cols: number } | undefined {
  if (v === undefined || v === null) return undefined;
  const size = obj(obj(v, "pty").size, "pty.size");
  const rows = Number(size.rows ?? 0);
  const cols = Number(size.cols ?? 0);
  if (
    !Number.isInteger(rows) ||
    !Number.isInteger(cols) ||
    rows < 1 ||
    cols < 1 ||
    rows > 1000 ||
    cols > 1000
  )
    throw new ConnectError("invalid_argument", "pty.size rows and cols must be integers from 1 to 1000");
  return { rows, cols };
}

function parseSelector(v: unknown): { pid?: number; tag?: string } {
  const s = obj(v, "process");
  if (s.pid !== undefined) {
    const pid = Number(s.pid);
    if (!Number.isInteger(pid) || pid < 1 || pid > 0xffffffff)
      throw new ConnectError("invalid_argument", "process.pid must be a positive integer");
    return { pid };
  }
  if (typeof s.tag === "string" && s.tag !== "" && s.tag.length <= MAX_TAG) return { tag: s.tag };
  throw new ConnectError("invalid_argument", "process must name a pid or a tag");
}

function describe(sel: { pid?: number; tag?: string }): string {
  return sel.pid !== undefined
    ? `process with pid ${sel.pid}`
    : `process with tag ${JSON.stringify(sel.tag)}`;
}

function endEvent(end: ProcessEnd): Json {
  return {
    event: {
      end: {
        exitCode: end.exitCode,
        exited: end.exited,
        status: end.status,
        ...(end.error !== undefined ? { error: end.error } : {}),
      },
    },
  };
}

/** Streams a tracked process's events to `res` until it ends or the client leaves. */
async function streamProcess(
  req: IncomingMessage,
  res: ServerResponse,
  out: ConnectStream,
  p: TrackedProcess,
  pid: number,
): Promise<void> {
  await new Promise<void>((resolve) => {
    let unwatch = () => {};
    const leave = () => {
      unwatch();
      out.stop();
      resolve();
    };
    const close = async (result: ProcessEnd | ConnectError) => {
      unwatch();
      if (result instanceof ConnectError) out.end(result);
      else {
        await out.send(endEvent(result));
        out.end(
          result.timedOut
            ? new ConnectError("deadline_exceeded", "the command ran out of time and was killed")
            : undefined,
        );
      }
      resolve();
    };
    try {
      unwatch = p.watch({
        output: (kind, data) => out.send({ event: { data: { [kind]: data.toString("base64") } } }),
        end: (result) => void close(result),
      });
    } catch (e) {
      p.release();
      out.end(toConnectError(e));
      resolve();
      return;
    }
    void out.send({ event: { start: { pid } } });
    p.release();
    out.keepAlive(keepaliveSeconds(req), { event: { keepalive: {} } });
    res.on("close", leave);
    p.done.catch((e: unknown) => void close(toConnectError(e)));
  });
}

async function start(target: EnvdTarget, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const out = new ConnectStream(res);
  try {
    const msg = await readStreamRequest(req);
    const config = parseConfig(msg.process);
    const pty = parsePtySize(msg.pty);
    if (msg.tag !== undefined && (typeof msg.tag !== "string" || msg.tag.length > MAX_TAG))
      throw new ConnectError("invalid_argument", `tag must be a string of at most ${MAX_TAG} characters`);
    const tag = msg.tag ? String(msg.tag) : undefined;
    const stdin = msg.stdin === undefined || msg.stdin === null ? true : msg.stdin === true;
    const userName = userFromAuthorization(req);
    const { channel, vmKey } = await openGuest(target);
    let p: TrackedProcess;
    let pid: number;
    try {
      const accounts = await guestAccounts(channel, vmKey);
      const user = resolveUser(accounts, userName);
      const cwd = config.cwd ? resolvePath(config.cwd, user, "process.cwd") : undefined;
      const timeoutMs = requestTimeoutMs(req);
      const fields: Json = {
        argv: [config.cmd, ...config.args],
        env: { ...target.envVars, ...config.envs },
        user: user.name,
        stdin: stdin || pty !== undefined,
        ...(cwd ? { cwd } : {}),
        ...(pty ? { pty } : {}),
        ...(timeoutMs ? { timeout_ms: Math.min(timeoutMs, 604_800_000) } : {}),
      };
      p = new TrackedProcess(
        channel,
        "exec",
        fields,
        { ...config, ...(cwd ? { cwd } : {}) },
        tag,
        pty !== undefined,
        stdin,
      );
    } catch (e) {
      channel.close();
      throw e;
    }
    try {
      pid = await track(target.vmName, p);
    } catch (e) {
      throw toConnectError(e);
    }
    await streamProcess(req, res, out, p, pid);
  } catch (e) {
    out.end(toConnectError(e));
  }
}

/** The tracked process `sel` names, attaching to it when envd did not start it. */
async function reach(
  target: EnvdTarget,
  sel: { pid?: number; tag?: string },
  forStream = false,
): Promise<TrackedProcess> {
  const known = findTracked(target.vmName, sel);
  if (known) return known;
  if (sel.pid === undefined) throw new ConnectError("not_found", `${describe(sel)} not found`);
  const { channel } = await openGuest(target);
  const p = new TrackedProcess(
    channel,
    "attach",
    { pid: sel.pid },
    { cmd: "", args: [], envs: {} },
    undefined,
    false,
    true,
  );
  try {
    await track(target.vmName, p);
    if (!forStream) p.release();
  } catch (e) {
    const again = findTracked(target.vmName, sel);
    if (again) return again;
    const c = toConnectError(e);
    throw c.code === "not_found" ? new ConnectError("not_found", `${describe(sel)} not found`) : c;
  }
  return p;
}

async function connect(target: EnvdTarget, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const out = new ConnectStream(res);
  try {
    const msg = await readStreamRequest(req);
    const p = await reach(target, parseSelector(msg.process), true);
    await streamProcess(req, res, out, p, p.pid);
  } catch (e) {
    out.end(toConnectError(e));
  }
}

function inputOf(v: unknown): Buffer {
  const input = obj(v, "input");
  const data = input.stdin ?? input.pty;
  if (typeof data !== "string" || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(data))
    throw new ConnectError("invalid_argument", "input must hold stdin or pty bytes (base64)");
  return Buffer.from(data, "base64");
}

const SIGNALS: Record<string, string> = {
  SIGNAL_SIGKILL: "KILL",
  SIGNAL_SIGTERM: "TERM",
  "9": "KILL",
  "15": "TERM",
};

/** Unary Process calls. */
export async function processUnary(target: EnvdTarget, method: string, msg: Json): Promise<unknown> {
  switch (method) {
    case "List":
      return withGuest(target, async (ch) => {
        const running = (await listGuestProcesses(ch)).filter((p) => p.running);
        return {
          processes: running.map((g) => {
            const t = findTracked(target.vmName, { pid: g.pid });
            const config = t?.config.cmd ? t.config : { cmd: g.command, args: [], envs: {} };
            return { config, pid: g.pid, ...(t?.tag ? { tag: t.tag } : {}) };
          }),
        };
      });
    case "SendInput": {
      const sel = parseSelector(msg.process);
      const data = inputOf(msg.input);
      await (await reach(target, sel)).sendInput(data);
      return {};
    }
    case "CloseStdin": {
      await (await reach(target, parseSelector(msg.process))).closeStdin();
      return {};
    }
    case "Update": {
      const sel = parseSelector(msg.process);
      const size = parsePtySize(msg.pty);
      if (size) (await reach(target, sel)).resize(size.rows, size.cols);
      return {};
    }
    case "SendSignal": {
      const sel = parseSelector(msg.process);
      const signal = SIGNALS[String(msg.signal)];
      if (!signal)
        throw new ConnectError("invalid_argument", "signal must be SIGNAL_SIGKILL or SIGNAL_SIGTERM");
      const pid = sel.pid ?? findTracked(target.vmName, sel)?.pid;
      if (pid === undefined) throw new ConnectError("not_found", `${describe(sel)} not found`);
      await withGuest(target, (ch) => signalGuestProcess(ch, pid, signal)).catch((e: unknown) => {
        const c = toConnectError(e);
        throw c.code === "not_found" ? new ConnectError("not_found", `${describe(sel)} not found`) : c;
      });
      return {};
    }
    default:
      throw new ConnectError("unimplemented", `process.Process/${method} is not a known call`);
  }
}

/** StreamInput: a client stream of start (which process), then data and keepalive messages. */
async function streamInput(target: EnvdTarget, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const out = new ConnectStream(res);
  try {
    let p: TrackedProcess | undefined;
    for await (const m of readEnvelopes(req)) {
      if (m.start !== undefined) {
        if (p) throw new ConnectError("invalid_argument", "the input stream names its process once");
        p = await reach(target, parseSelector(obj(m.start, "start").process));
      } else if (m.data !== undefined) {
        if (!p) throw new ConnectError("failed_precondition", "the input stream must start with its process");
        await p.sendInput(inputOf(obj(m.data, "data").input));
      }
    }
    await out.send({});
    out.end();
  } catch (e) {
    req.resume();
    out.end(toConnectError(e));
  }
}

export const PROCESS_STREAMS: Record<
  string,
  (target: EnvdTarget, req: IncomingMessage, res: ServerResponse) => Promise<void>
> = {
  Start: start,
  Connect: connect,
  StreamInput: streamInput,
};

export const PROCESS_UNARY = new Set(["List", "SendInput", "CloseStdin", "Update", "SendSignal"]);
