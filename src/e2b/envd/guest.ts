import { Writable } from "node:stream";
import type { GuestChannel } from "../../guest/channel.js";
import { connectVmGuest } from "../../vm/guest-connect.js";
import { readGuestFile } from "../../guest/files.js";
import { ConnectError } from "./connect.js";
import type { EnvdTarget } from "./target.js";

// One guest channel per envd call (the daemon's keeper multiplexes them onto the VM's agent).

/** A channel to the sandbox's agent, and a key naming this VM instance (for per-VM caches). */
export async function openGuest(target: EnvdTarget): Promise<{ channel: GuestChannel; vmKey: string }> {
  await target.vms.get(target.vmName);
  const { channel, record } = await connectVmGuest(target.vms.paths, target.vmName);
  return { channel, vmKey: `${target.vmName}:${record.pid}:${record.created_at}` };
}

export async function withGuest<T>(
  target: EnvdTarget,
  fn: (ch: GuestChannel, vmKey: string) => Promise<T>,
): Promise<T> {
  const { channel, vmKey } = await openGuest(target);
  try {
    return await fn(channel, vmKey);
  } finally {
    channel.close();
  }
}

/** A small guest file read whole, refused beyond `max` bytes. */
export async function readSmallGuestFile(ch: GuestChannel, path: string, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      size += chunk.length;
      if (size > max) cb(new ConnectError("resource_exhausted", `${path} in the guest exceeds ${max} bytes`));
      else {
        chunks.push(chunk);
        cb();
      }
    },
  });
  await readGuestFile(ch, path, sink);
  return Buffer.concat(chunks);
}
