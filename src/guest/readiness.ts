import { MvmError, messageOf } from "../core/errors.js";
import { sleep } from "../host/process.js";
import type { GuestEndpoint } from "./endpoint.js";
import { freshIdentity, GuestChannel, type HealthReport, type PostRestoreResult } from "./channel.js";

// "Ready" means what the template promised: the guest agent answers and every health check passes
// (docs/guest-protocol.md, `health.ready`). The original polled a socket that never existed and
// ignored the checks; here the wait names the checks that are not healthy yet, and gives up at once
// if the hypervisor process dies.

export interface ReadyOptions {
  timeoutMs: number;
  /** Send the post-restore request (host wall clock, fresh entropy and identity) once the agent answers. */
  postRestore?: boolean;
  /**
   * Ask the guest to restart its services after the restore (it re-reads config and secrets). Only
   * needed when new config or secrets drives are attached; otherwise the services keep their state.
   */
  restartServices?: boolean;
  /**
   * After a cold boot: once the agent answers, step the guest's clock to the host's (a post_restore
   * with only the clock and entropy: no identity change, no service restart). The kernel command
   * line's clock is short by the time the guest spent before its kernel started.
   */
  syncClock?: boolean;
  /** Progress: called when the set of unhealthy checks changes. */
  onProgress?: (msg: string) => void;
  /**
   * Called as each phase ends: agent_connect (the channel is open), then post_restore (answered) or,
   * after a cold boot, guest_boot (the agent first answered) and clock_sync; readiness last.
   */
  mark?: (phase: string) => void;
}

export interface ReadyResult {
  health: HealthReport;
  postRestore?: PostRestoreResult;
}

async function openChannel(vm: GuestEndpoint, retryMs: number): Promise<GuestChannel> {
  if (vm.guestVsockPort !== undefined)
    return GuestChannel.connectFirecrackerVsock(vm.guestChannel, vm.guestVsockPort, {
      connectRetryMs: retryMs,
    });
  return GuestChannel.connectUnix(vm.guestChannel, { connectRetryMs: retryMs });
}

function unhealthy(h: HealthReport): string {
  const bad = h.checks.filter((c) => !c.healthy);
  return bad.map((c) => `${c.name} (${c.status}: ${c.detail})`).join(", ");
}

export async function waitReady(vm: GuestEndpoint, opts: ReadyOptions): Promise<ReadyResult> {
  const mark = opts.mark ?? (() => {});
  const deadline = Date.now() + opts.timeoutMs;
  const alive = () => vm.processAlive();
  const left = () => Math.max(1, deadline - Date.now());
  const dead = () =>
    new MvmError("external", `the VM stopped before it was ready`, { hint: `Its console: ${vm.consoleLog}` });
  let ch: GuestChannel | undefined;
  try {
    ch = await openChannel(vm, Math.min(left(), 15_000));
    mark("agent_connect");
    // The agent answers once the guest has booted that far; a short per-request timeout keeps the
    // loop responsive to the VM dying and to the deadline. After a restore the first request is
    // post_restore itself (one identity for every attempt: a late answer to an earlier attempt is
    // dropped by id, and applying the same identity twice is harmless).
    let post: PostRestoreResult | undefined;
    const identity = freshIdentity(vm.name);
    for (;;) {
      if (!alive()) throw dead();
      try {
        if (opts.postRestore)
          post = await ch.postRestore(
            {
              identity,
              restartServices: opts.restartServices ?? false,
              network: vm.guestNetwork(),
              // Read at each attempt: the guest's clock still says when the snapshot was taken.
              wallClockMs: Date.now(),
            },
            { timeoutMs: Math.min(2000, left()) },
          );
        else await ch.ping({ timeoutMs: Math.min(1000, left()) });
        mark(opts.postRestore ? "post_restore" : "guest_boot");
        break;
      } catch (e) {
        if (Date.now() >= deadline)
          throw new MvmError(
            "timeout",
            `the guest agent did not answer within ${Math.round(opts.timeoutMs / 1000)} s`,
            {
              hint: `Its console: ${vm.consoleLog}`,
            },
          );
        if (e instanceof MvmError && e.kind === "network") {
          // The stream closed (QEMU going away, or a reconnect needed): reopen.
          ch.close();
          if (!alive()) throw dead();
          await sleep(100);
          ch = await openChannel(vm, Math.min(left(), 5_000));
        } else if (!(e instanceof MvmError && e.kind === "timeout")) throw e;
      }
    }
    if (opts.syncClock && !opts.postRestore)
      await ch
        .postRestore(
          { restartServices: false, wallClockMs: Date.now() },
          { timeoutMs: Math.min(5000, left()) },
        )
        .catch((e) => opts.onProgress?.(`could not set the guest's clock: ${messageOf(e)}`))
        .finally(() => mark("clock_sync"));
    let last = "";
    const notReady = () =>
      new MvmError(
        "timeout",
        `health checks did not pass within ${Math.round(opts.timeoutMs / 1000)} s: ${last || "no answer from the agent"}`,
      );
    for (;;) {
      if (!alive()) throw dead();
      if (Date.now() >= deadline) throw notReady();
      // Services restarted after a restore: every check is re-run now (fresh), so "ready" describes
      // the restarted services. Without a restart the guest is exactly the snapshot, taken when every
      // check had passed, and the agent's latest results (re-run in the background) stand. Once a
      // check has been seen failing (a cold boot's services still starting), every request re-runs
      // the checks now instead of waiting for the next interval of each check.
      const fresh = Boolean((opts.postRestore && opts.restartServices) || last !== "");
      // At least a second per request, even right at the deadline: a reply cut short is not an answer.
      const timeoutMs = Math.max(1000, fresh ? left() : Math.min(10_000, left()));
      let h: HealthReport;
      try {
        h = await ch.health(fresh ? { fresh: true, timeoutMs } : { timeoutMs });
      } catch (e) {
        if (e instanceof MvmError && e.kind === "timeout" && Date.now() >= deadline) throw notReady();
        throw e;
      }
      if (h.ready) {
        mark("readiness");
        return { health: h, ...(post ? { postRestore: post } : {}) };
      }
      const now = unhealthy(h);
      if (now !== last) {
        opts.onProgress?.(`waiting for health checks: ${now}`);
        last = now;
      }
      await sleep(opts.postRestore ? 25 : fresh ? 100 : 250);
    }
  } catch (e) {
    if (!alive() && !(e instanceof MvmError && e.message.startsWith("the VM stopped"))) throw dead();
    if (e instanceof MvmError) throw e;
    throw new MvmError("external", `guest agent: ${messageOf(e)}`);
  } finally {
    ch?.close();
  }
}
