import type { Writable } from "node:stream";
import { MvmError } from "../../core/errors.js";
import type { GuestFs } from "../../guest/guest-fs.js";
import { MvmError as ApiClientError } from "../../sdk/errors.js";
import { Sandbox } from "../../sdk/sandbox.js";
import { callJson, type Endpoint } from "../../sdk/transport.js";
import type { VmInfo } from "../../sdk/types.js";
import { cliError } from "../daemon-route.js";

// `mvmctl cp` through the data dir's daemon: the same copy as on the direct path, each of its file
// operations a request to the daemon's files API, file contents streamed both ways. A guest's refusal
// keeps the message and exit status it has on the direct path.

/** A daemon's refusal as the CLI's error: the guest's own errors stay the guest's. */
export function cpError(e: unknown): unknown {
  if (!(e instanceof ApiClientError)) return e;
  if (e.code === "guest_unreachable") return new MvmError("network", e.message);
  if (e.code.startsWith("guest_")) return new MvmError("external", e.message);
  if (e.code === "vm_not_found")
    return new MvmError("not_found", e.message, { hint: "List VMs with 'mvmctl ls'." });
  return cliError(e);
}

async function apiStep<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (e) {
    throw cpError(e);
  }
}

function drained(out: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (e?: Error) => {
      out.off("drain", onDrain);
      out.off("error", done);
      out.off("close", onClose);
      if (e) reject(e);
      else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(new MvmError("external", "the local file was closed during the copy"));
    out.on("drain", onDrain);
    out.on("error", done);
    out.on("close", onClose);
  });
}

/** The guest files of VM `name` through the daemon; refuses at once if the daemon has no such VM. */
export async function daemonFs(endpoint: Endpoint, name: string): Promise<GuestFs> {
  const info = await apiStep(() =>
    callJson<VmInfo>(endpoint, { method: "GET", path: `/v1/vms/${encodeURIComponent(name)}` }),
  );
  const vm = new Sandbox(endpoint, info);
  return {
    stat: (path) =>
      apiStep(async () => {
        try {
          return await vm.files.stat(path);
        } catch (e) {
          if (e instanceof ApiClientError && e.code === "guest_not_found") return undefined;
          throw e;
        }
      }),
    list: (path, depth) => apiStep(() => vm.files.list(path, { depth })),
    mkdir: (path, opts) => apiStep(() => vm.files.mkdir(path, opts)),
    remove: (path, opts) => apiStep(() => vm.files.remove(path, opts)),
    rename: (from, to) => apiStep(() => vm.files.rename(from, to)),
    // Every upload replaces its file whole (a file inside a tree being assembled is not yet visible).
    write: (path, input, opts) =>
      apiStep(() => vm.files.write(path, input, opts.mode !== undefined ? { mode: opts.mode } : {})),
    read: (path, out) =>
      apiStep(async () => {
        const res = await vm.files.readStream(path);
        // A failure of the local file is reported as it is, not as the daemon's.
        let local: Error | undefined;
        const onError = (e: Error) => {
          local ??= e;
        };
        out.on("error", onError);
        let bytes = 0;
        try {
          for await (const chunk of res) {
            bytes += (chunk as Buffer).length;
            if (!out.write(chunk)) await drained(out);
            if (local) throw local;
          }
        } catch (e) {
          res.destroy();
          if (local) throw local;
          if (e instanceof MvmError) throw e;
          throw new MvmError("network", `the daemon ended the copy of ${path} early`);
        } finally {
          out.off("error", onError);
        }
        return bytes;
      }),
  };
}
