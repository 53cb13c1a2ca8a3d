// What a push or pull reports while it moves bytes; the command decides how (or whether) to show it.

export interface ProgressSink {
  start(total: number): void;
  add(n: number): void;
  fileDone(line: string): void;
  finish(): void;
}

export const silentProgress: ProgressSink = {
  start() {},
  add() {},
  fileDone() {},
  finish() {},
};
