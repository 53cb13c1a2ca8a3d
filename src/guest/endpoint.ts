import type { GuestNetwork } from "./channel.js";

/** Where the host reaches a running guest's agent, and what it must know about the VM to do so. */
export interface GuestEndpoint {
  /** The VM's name (a restored guest takes a hostname derived from it). */
  readonly name: string;
  /** Path of the host side of the guest channel (a unix socket). */
  readonly guestChannel: string;
  /** Set when the guest channel is a Firecracker vsock UDS (send `CONNECT <port>` first). */
  readonly guestVsockPort?: number;
  /** The console log, named in errors about a guest that never became ready. */
  readonly consoleLog: string;
  /** Whether the hypervisor process still exists. */
  processAlive(): boolean;
  /**
   * The address a restored guest must switch to (it still has the snapshot VM's), sent in the
   * post-restore request; undefined when the backend gives each VM no address of its own.
   */
  guestNetwork(): GuestNetwork | undefined;
}
