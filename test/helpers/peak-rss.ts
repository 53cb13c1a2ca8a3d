// Preloaded with `node --import`: when the process exits, writes its peak resident set size (bytes)
// to $MVM_TEST_PEAK_RSS, so a test can bound what a command held in memory.
import { writeFileSync } from "node:fs";

const file = process.env.MVM_TEST_PEAK_RSS;
if (file) process.on("exit", () => writeFileSync(file, String(process.resourceUsage().maxRSS * 1024)));
