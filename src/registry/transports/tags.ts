import { MvmError } from "../../core/errors.js";
import type { RemoteTag } from "./transport.js";

/** The error of a tag that another push moved while this one ran: the loser's one line. */
export function tagConflict(template: string, tag: string, now: RemoteTag | undefined): MvmError {
  const where = now ? `revision ${now.rev.slice(0, 12)}` : "nothing (it was removed)";
  return new MvmError(
    "exists",
    `tag ${template}:${tag} was moved to ${where} by another push while this one ran`,
    {
      hint: "This revision was pushed; the tag was left as the other push set it. Push again to move it.",
    },
  );
}

/** True when two reads of a tag name the same state (both absent, or the same version). */
export function sameTag(a: RemoteTag | undefined, b: RemoteTag | undefined): boolean {
  return a === undefined ? b === undefined : b !== undefined && a.version === b.version;
}
