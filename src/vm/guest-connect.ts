import { MvmError } from "../core/errors.js";
import { validateIdent } from "../core/names.js";
import { pidAlive } from "../host/process.js";
import type { DataPaths } from "../store/paths.js";
import { AGENT_VSOCK_PORT, GuestChannel } from "../guest/channel.js";
import { daemonKeeperGone } from "../hypervisor/keeper/in-process.js";
import { readVmRecord, type VmRecord } from "./records.js";

// A guest channel to a running VM, whichever process started it: on QEMU the socket its keeper (a
// keeper process, or the daemon) shares (several clients at once), on Firecracker a new vsock connection to the agent's port.

export async function connectVmGuest(
  paths: DataPaths,
  name: string,
  opts: { timeoutMs?: number } = {},
): Promise<{ channel: GuestChannel; record: VmRecord }> {
  validateIdent(name, "VM name");
  const record = await readVmRecord(paths.vm(name));
  if (!record) throw new MvmError("not_found", `no VM named ${name}`, { hint: "List VMs with 'mvmctl ls'." });
  if (record.pid > 0 && !pidAlive(record.pid))
    throw new MvmError("not_found", `VM ${name} is not running`, {
      hint: `Remove what is left of it with 'mvmctl down ${name}'.`,
    });
  if (daemonKeeperGone(paths.vm(name)))
    throw new MvmError("external", `VM ${name} is kept by a daemon ('mvmctl serve') that is not running`, {
      hint: "Start 'mvmctl serve' again: it takes its running VMs back.",
    });
  const chOpts = { timeoutMs: opts.timeoutMs ?? 10_000, connectRetryMs: 2000 };
  // A Firecracker record without the port names the agent's usual vsock port.
  const vsockPort =
    record.guest_vsock_port ?? (record.backend === "firecracker" ? AGENT_VSOCK_PORT : undefined);
  const channel =
    vsockPort !== undefined
      ? await GuestChannel.connectFirecrackerVsock(record.guest_channel, vsockPort, chOpts)
      : await GuestChannel.connectUnix(record.guest_channel, chOpts);
  return { channel, record };
}
