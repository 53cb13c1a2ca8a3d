import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";

// flake_lock_hash: the original mvm ran `nix hash path <flake>/flake.lock`, i.e. the SHA-256 of
// the file's NAR serialisation in SRI form. We compute the same value in-process: a NAR of one regular
// file is a handful of length-prefixed, 8-byte-padded strings around its contents.

function narString(h: ReturnType<typeof createHash>, s: string | Buffer): void {
  const bytes = typeof s === "string" ? Buffer.from(s, "utf8") : s;
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(bytes.length));
  h.update(len);
  h.update(bytes);
  const pad = (8 - (bytes.length % 8)) % 8;
  if (pad) h.update(Buffer.alloc(pad));
}

/** `nix hash path FILE` for a regular file, without nix. */
export function narHashOfFile(contents: Buffer, executable: boolean): string {
  const h = createHash("sha256");
  for (const s of ["nix-archive-1", "(", "type", "regular"]) narString(h, s);
  if (executable) {
    narString(h, "executable");
    narString(h, "");
  }
  narString(h, "contents");
  narString(h, contents);
  narString(h, ")");
  return `sha256-${h.digest("base64")}`;
}

/** The flake.lock hash of a local flake, or undefined when it has no flake.lock. */
export async function flakeLockHash(lockFile: string): Promise<string | undefined> {
  let st: import("node:fs").Stats;
  try {
    st = await fs.stat(lockFile);
  } catch {
    return undefined;
  }
  if (!st.isFile()) return undefined;
  return narHashOfFile(await fs.readFile(lockFile), (st.mode & 0o100) !== 0);
}
