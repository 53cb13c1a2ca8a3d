import type { Command } from "commander";
import { usageError } from "../../core/errors.js";
import { identProblem } from "../../core/names.js";
import { info, printJson } from "../ui/output.js";
import { type CopyStats, copyFromGuest, copyToGuest } from "../../guest/copy.js";
import type { GuestFs } from "../../guest/guest-fs.js";
import type { CliContext } from "../context.js";
import { NO_DAEMON_HELP, runningDaemon } from "../daemon-route.js";

interface Endpoint {
  vm?: string;
  path: string;
}

/** "VM:PATH" names a guest path; anything else (or a prefix with a "/" in it) is a host path. */
function endpoint(arg: string): Endpoint {
  const colon = arg.indexOf(":");
  if (colon <= 0 || arg.slice(0, colon).includes("/")) return { path: arg };
  const vm = arg.slice(0, colon);
  if (identProblem(vm)) return { path: arg };
  const path = arg.slice(colon + 1);
  if (!path.startsWith("/"))
    throw usageError(`guest path in ${JSON.stringify(arg)} must be absolute (${vm}:/path)`);
  return { vm, path };
}

function summary(s: CopyStats): string {
  const parts = [`${s.files} file${s.files === 1 ? "" : "s"}`];
  if (s.dirs) parts.push(`${s.dirs} director${s.dirs === 1 ? "y" : "ies"}`);
  parts.push(`${s.bytes} bytes`);
  if (s.skipped) parts.push(`${s.skipped} symlink(s) or special file(s) left out`);
  return parts.join(", ");
}

export function registerCp(program: Command, ctx: CliContext): void {
  program
    .command("cp")
    .description("Copy files or directories between the host and a running VM (VM:PATH on one side)")
    .argument("<src>", "host path or VM:/guest/path")
    .argument("<dst>", "host path or VM:/guest/path (an existing directory receives the copy inside it)")
    .option("--json", "print what was copied as JSON")
    .option("--no-daemon", NO_DAEMON_HELP)
    .addHelpText(
      "after",
      "\nWhile a daemon ('mvmctl serve') runs for this data dir, the copy goes through its files API\n(streamed both ways); --no-daemon (or MVM_NO_DAEMON=1) talks to the guest directly.",
    )
    .action(async (srcArg: string, dstArg: string, opts: { json?: boolean; daemon?: boolean }) => {
      const src = endpoint(srcArg);
      const dst = endpoint(dstArg);
      if (Boolean(src.vm) === Boolean(dst.vm))
        throw usageError(
          "exactly one of <src> and <dst> must be VM:PATH",
          "e.g. mvmctl cp ./app.conf web:/etc/app.conf",
        );
      const vm = (src.vm ?? dst.vm) as string;
      const copy = (g: GuestFs) =>
        src.vm ? copyFromGuest(g, src.path, dst.path) : copyToGuest(g, src.path, dst.path);
      let stats: CopyStats;
      const daemon = await runningDaemon(ctx, opts);
      if (daemon) {
        const { daemonFs } = await import("./cp-daemon.js");
        stats = await copy(await daemonFs(daemon, vm));
      } else {
        const { connectVmGuest } = await import("../../vm/guest-connect.js");
        const { channelFs } = await import("../../guest/guest-fs.js");
        const { channel } = await connectVmGuest(ctx.paths, vm);
        try {
          stats = await copy(channelFs(channel));
        } finally {
          channel.close();
        }
      }
      if (opts.json) printJson({ ...stats, direction: src.vm ? "from_guest" : "to_guest", vm });
      else info(`Copied ${summary(stats)} to ${src.vm ? stats.target : `${vm}:${stats.target}`}`);
    });
}
