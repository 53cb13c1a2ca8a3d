import { parentPort } from "node:worker_threads";
import { isMvmError } from "../core/errors.js";
import { sha256File } from "./file-hash.js";
import type { HashReply, HashRequest } from "./hash-protocol.js";

// A hashing thread of the pool in hash-pool.ts: it hashes one file per request, streamed through the
// same fixed buffers as the main thread does, and answers with the digest or with the error's fields
// (an error object loses its errno code when it crosses threads).

const port = parentPort;
port?.on("message", (req: HashRequest) => {
  sha256File(req.path).then(
    (sha256): void => port.postMessage({ sha256 } satisfies HashReply),
    (e: unknown): void => {
      const x = e as NodeJS.ErrnoException;
      port.postMessage({
        error: {
          message: e instanceof Error ? e.message : String(e),
          ...(isMvmError(e) ? { kind: e.kind } : {}),
          ...(typeof x?.code === "string" ? { code: x.code } : {}),
          ...(typeof x?.errno === "number" ? { errno: x.errno } : {}),
          ...(typeof x?.syscall === "string" ? { syscall: x.syscall } : {}),
          ...(typeof x?.path === "string" ? { path: x.path } : {}),
        },
      } satisfies HashReply);
    },
  );
});
