// What happens on this host, as a stream of events: VMs created, ready, paused, resumed, exited on
// their own, killed, expired; template pulls started, progressing, done or failed. Each subscriber
// (one GET /v1/events) has its own bounded queue: a subscriber that does not keep up is dropped, so a
// slow client costs the daemon at most its queue, never an unbounded amount of memory.

import type { HostEvent, HostEventType } from "../core/api-objects.js";

export type EventType = HostEventType;
export { EVENT_TYPES, type HostEvent } from "../core/api-objects.js";

export interface Subscriber {
  /** Takes one serialized event; returns false when it wants no more until it drains (like a stream). */
  write(line: string): boolean;
  /** Called once when the subscriber is dropped for falling behind. */
  overflow(): void;
  /** Only these types are delivered (all when undefined). */
  types?: ReadonlySet<EventType>;
}

/** Events a subscriber may have waiting before it is dropped. */
export const DEFAULT_QUEUE_EVENTS = 1024;
/** Bytes a subscriber may have waiting before it is dropped. */
export const DEFAULT_QUEUE_BYTES = 1024 * 1024;

interface Slot {
  sub: Subscriber;
  queue: string[];
  bytes: number;
  blocked: boolean;
  dropped: boolean;
}

export class EventHub {
  private next = 1;
  private readonly slots = new Set<Slot>();

  constructor(
    private readonly bounds: { events: number; bytes: number } = {
      events: DEFAULT_QUEUE_EVENTS,
      bytes: DEFAULT_QUEUE_BYTES,
    },
  ) {}

  get subscribers(): number {
    return this.slots.size;
  }

  publish(type: EventType, fields: Omit<HostEvent, "id" | "type" | "time"> = {}): HostEvent {
    const event: HostEvent = { id: this.next++, type, time: new Date().toISOString(), ...fields };
    const line = `${JSON.stringify(event)}\n`;
    for (const slot of this.slots) {
      if (slot.sub.types && !slot.sub.types.has(type)) continue;
      if (!slot.blocked) {
        slot.blocked = !slot.sub.write(line);
        continue;
      }
      slot.queue.push(line);
      slot.bytes += line.length;
      if (slot.queue.length > this.bounds.events || slot.bytes > this.bounds.bytes) this.drop(slot);
    }
    return event;
  }

  /** Registers a subscriber; returns `drain` (call when it can take more) and `close`. */
  subscribe(sub: Subscriber): { drain(): void; close(): void } {
    const slot: Slot = { sub, queue: [], bytes: 0, blocked: false, dropped: false };
    this.slots.add(slot);
    return {
      drain: () => {
        slot.blocked = false;
        while (!slot.dropped && !slot.blocked && slot.queue.length > 0) {
          const line = slot.queue.shift() as string;
          slot.bytes -= line.length;
          slot.blocked = !slot.sub.write(line);
        }
      },
      close: () => {
        slot.queue = [];
        this.slots.delete(slot);
      },
    };
  }

  /** Bytes queued for every subscriber together (what slow clients cost right now). */
  queuedBytes(): number {
    let n = 0;
    for (const s of this.slots) n += s.bytes;
    return n;
  }

  private drop(slot: Slot): void {
    slot.dropped = true;
    slot.queue = [];
    slot.bytes = 0;
    this.slots.delete(slot);
    slot.sub.overflow();
  }
}
