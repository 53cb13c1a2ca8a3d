import { promises as fs } from "node:fs";
import { reflink, sparseCopy } from "../host/files.js";

// Puts a store file into a revision directory without duplicating bytes when it can: a hard link
// (same filesystem; the revision keeps the bytes alive even after nix garbage-collects the path), else a
// reflink, else a copy that leaves runs of zeros as holes so that a mostly empty ext4 image stays small.

export type Placement = "linked" | "reflinked" | "copied";

export async function placeFile(src: string, dst: string): Promise<Placement> {
  try {
    await fs.link(src, dst);
    return "linked";
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "EXDEV" && code !== "EPERM" && code !== "EMLINK" && code !== "EACCES") throw e;
  }
  if (await reflink(src, dst)) {
    await fs.chmod(dst, 0o644);
    return "reflinked";
  }
  await sparseCopy(src, dst, 0o644);
  return "copied";
}
