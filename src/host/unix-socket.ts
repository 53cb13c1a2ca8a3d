import { closeSync, openSync } from "node:fs";
import { connect, type Server, type Socket } from "node:net";
import { basename, dirname } from "node:path";
import { MvmError } from "../core/errors.js";

/** Largest unix socket path connect(2) accepts (sun_path is 108 bytes including the NUL). */
const SUN_PATH_MAX = 107;

/**
 * Connects to a unix socket whose path may be longer than sun_path allows (deep data dirs): the
 * directory is opened and the socket reached through /proc/self/fd/N, which is always short.
 */
export function connectUnixSocket(path: string, timeoutMs = 2000): Promise<Socket> {
  let dirFd: number | undefined;
  let target = path;
  if (Buffer.byteLength(path) > SUN_PATH_MAX) {
    dirFd = openSync(dirname(path), "r");
    target = `/proc/self/fd/${dirFd}/${basename(path)}`;
  }
  return new Promise<Socket>((resolve, reject) => {
    const sock = connect(target);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new MvmError("timeout", `timed out connecting to ${path}`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      if (dirFd !== undefined) closeSync(dirFd);
      dirFd = undefined;
    };
    sock.once("connect", () => {
      done();
      resolve(sock);
    });
    sock.once("error", (e) => {
      done();
      reject(e);
    });
  });
}

/**
 * Listens on a unix socket at `path`, however long: a path beyond sun_path is bound through
 * /proc/self/fd/N of its directory (the socket file still appears at `path`).
 */
export function listenUnixSocket(server: Server, path: string): Promise<void> {
  let dirFd: number | undefined;
  let target = path;
  if (Buffer.byteLength(path) > SUN_PATH_MAX) {
    dirFd = openSync(dirname(path), "r");
    target = `/proc/self/fd/${dirFd}/${basename(path)}`;
  }
  return new Promise<void>((resolve, reject) => {
    const done = () => {
      if (dirFd !== undefined) closeSync(dirFd);
      dirFd = undefined;
    };
    server.once("error", (e) => {
      done();
      reject(e);
    });
    server.listen(target, () => {
      done();
      resolve();
    });
  });
}
