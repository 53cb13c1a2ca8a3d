// Preloaded with `node --import`: records every module the process loads in $MVM_TEST_MODULE_LOG.
import { register } from "node:module";

const logFile = process.env.MVM_TEST_MODULE_LOG;
if (logFile) register("./module-log-hooks.js", import.meta.url, { data: { logFile } });
