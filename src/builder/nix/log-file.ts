import { closeSync, openSync, promises as fs, writeSync } from "node:fs";
import { join } from "node:path";

// The full log of one build, kept under <data>/logs/ so that a failure can point at it. Written with
// plain synchronous writes: a build that is killed keeps everything up to the last line.

const KEEP_PER_TEMPLATE = 10;
const TAIL_LINES = 40;

export class BuildLog {
  private fd: number | undefined;
  private readonly tailLines: string[] = [];

  private constructor(readonly path: string) {
    this.fd = openSync(path, "a", 0o644);
  }

  /** Opens a fresh log for `template`, and removes that template's oldest logs beyond the last few. */
  static async open(logsDir: string, template: string): Promise<BuildLog> {
    await fs.mkdir(logsDir, { recursive: true });
    await pruneOldLogs(logsDir, template);
    const stamp = new Date()
      .toISOString()
      .replace(/[-:]/g, "")
      .replace(/\.\d+Z$/, "Z");
    return new BuildLog(join(logsDir, `build-${template}-${stamp}-${process.pid}.log`));
  }

  /** A line of nix's output: also kept for the error message of a failure. */
  line(text: string): void {
    this.tailLines.push(text);
    if (this.tailLines.length > TAIL_LINES) this.tailLines.shift();
    this.note(text);
  }

  /** A line of our own (the command run, the outcome): in the file only. */
  note(text: string): void {
    if (this.fd !== undefined) writeSync(this.fd, `${text}\n`);
  }

  /** The last lines written, for an error message. */
  tail(n = 15): string[] {
    return this.tailLines.slice(-n);
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

async function pruneOldLogs(logsDir: string, template: string): Promise<void> {
  const prefix = `build-${template}-`;
  const entries = (await fs.readdir(logsDir).catch(() => [] as string[]))
    // The prefix alone would also match "build-<template>-x-…" of a template named "<template>-x".
    .filter((e) => e.startsWith(prefix) && /^\d{8}T\d{6}Z-\d+\.log$/.test(e.slice(prefix.length)))
    .sort();
  for (const e of entries.slice(0, Math.max(0, entries.length - (KEEP_PER_TEMPLATE - 1))))
    await fs.rm(join(logsDir, e), { force: true });
}
