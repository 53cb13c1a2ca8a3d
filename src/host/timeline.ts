import { performance } from "node:perf_hooks";

// A start-up timeline: consecutive phases, each closed by a mark, measured with the monotonic
// high-resolution clock. Phases are contiguous, so their durations add up to the time from the
// first phase's start to the last mark (nothing falls between two phases).

export interface PhaseTiming {
  phase: string;
  /** Duration of the phase, milliseconds (three decimals). */
  ms: number;
}

/** Closes the phase in progress under `phase` and starts the next one. */
export type PhaseMark = (phase: string) => void;

const round = (ms: number) => Math.round(ms * 1000) / 1000;

export class Timeline {
  private last: bigint;
  private readonly list: PhaseTiming[] = [];

  /**
   * Starts now. `sinceProcessStart` records the time from this process's start until now as a
   * first phase of that name (how long Node and the CLI's modules took to load).
   */
  constructor(sinceProcessStart?: string) {
    this.last = process.hrtime.bigint();
    if (sinceProcessStart) this.list.push({ phase: sinceProcessStart, ms: round(performance.now()) });
  }

  readonly mark: PhaseMark = (phase) => {
    const now = process.hrtime.bigint();
    this.list.push({ phase, ms: round(Number(now - this.last) / 1e6) });
    this.last = now;
  };

  get phases(): PhaseTiming[] {
    return this.list.map((p) => ({ ...p }));
  }

  get totalMs(): number {
    return round(this.list.reduce((s, p) => s + p.ms, 0));
  }
}

/** The timeline as aligned text lines: phase, milliseconds, share of the total. */
export function timelineLines(phases: PhaseTiming[]): string[] {
  const total = phases.reduce((s, p) => s + p.ms, 0);
  const width = Math.max(5, ...phases.map((p) => p.phase.length));
  const row = (name: string, ms: number) =>
    `${name.padEnd(width)}  ${ms.toFixed(1).padStart(8)} ms  ${total > 0 ? ((100 * ms) / total).toFixed(0).padStart(3) : "  0"} %`;
  return [...phases.map((p) => row(p.phase, p.ms)), row("total", total)];
}
