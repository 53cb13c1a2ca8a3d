import { messageOf } from "../core/errors.js";
import { GuestChannel, GuestError } from "../guest/channel.js";
import type { VmHandle } from "../hypervisor/backend.js";

// Before a VM is paused for its snapshot, the guest agent frees what the snapshot need not hold
// (`prepare_snapshot`: sync, drop clean caches, compact memory; docs/guest-protocol.md). The guest
// kernel zeroes freed pages, and zero pages become holes in the saved memory file, so the snapshot
// takes less disk and each restore maps less. An agent too old to know the request, or one that
// fails it, costs only that saving: the snapshot is taken anyway.

export interface PreparedGuest {
  dropped_caches: boolean;
  compacted: boolean;
  mem_free_kib_before: number;
  mem_free_kib_after: number;
}

/** How long the guest may take to write back, drop and compact (TCG on a loaded host is slow). */
const PREPARE_TIMEOUT_MS = 60_000;

/** Asks the guest to free memory before the snapshot; says what happened through `say`. */
export async function prepareGuestForSnapshot(
  vm: VmHandle,
  say: (msg: string) => void,
): Promise<PreparedGuest | undefined> {
  let ch: GuestChannel | undefined;
  try {
    ch =
      vm.guestVsockPort !== undefined
        ? await GuestChannel.connectFirecrackerVsock(vm.guestChannel, vm.guestVsockPort, {
            connectRetryMs: 5000,
          })
        : await GuestChannel.connectUnix(vm.guestChannel, { connectRetryMs: 5000 });
    const r = (await ch.request("prepare_snapshot", {}, PREPARE_TIMEOUT_MS)) as unknown as PreparedGuest;
    const mib = (kib: number) => (kib >= 0 ? `${Math.round(kib / 1024)} MiB` : "?");
    say(
      `Guest memory prepared for the snapshot: caches ${r.dropped_caches ? "dropped" : "kept"}, ${r.compacted ? "memory compacted" : "no compaction"}; free ${mib(r.mem_free_kib_before)} → ${mib(r.mem_free_kib_after)}`,
    );
    return r;
  } catch (e) {
    const old = e instanceof GuestError && e.code === "unknown_type";
    say(
      old
        ? "The guest agent cannot prepare its memory (an older agent): the snapshot keeps its caches"
        : `Could not prepare the guest's memory for the snapshot (${messageOf(e)}): taking it as it is`,
    );
    return undefined;
  } finally {
    ch?.close();
  }
}
