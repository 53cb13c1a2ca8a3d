// Preloaded with `node --import`: when the process exits, writes its peak resident set size (bytes)
// to $MVM_TEST_PEAK_RSS, so a test can bound what a command held in memory. It is the VmHWM of this
// program's own address space: getrusage's maxrss also counts the parent's memory the child carried
// between fork and exec.
import { readFileSync, writeFileSync } from "node:fs";

const file = process.env.MVM_TEST_PEAK_RSS;
if (file)
  process.on("exit", () => {
    const kib = /^VmHWM:\s*(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1];
    writeFileSync(file, String(Number(kib) * 1024));
  });
