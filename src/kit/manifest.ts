import { createHash } from "node:crypto";

// kit.json: what the kit holds and where it came from. The Nix library reads `system` and
// `kernel.file`; mvmctl reads `inputs` to decide whether the kit is current.

export const KIT_FORMAT = 2;

export interface KitFile {
  sha256: string;
  size: number;
  mode: number;
}

export interface KitManifest {
  format: number;
  system: "x86_64-linux";
  /** Content hash of the files (the kit directory's name is its first 16 hex digits). */
  hash: string;
  /** Fingerprint of the host inputs the kit was built from. */
  inputs: string;
  /** `file` is the bzImage; `vmlinux` the same kernel unpacked to ELF (for Firecracker). */
  kernel: { file: "kernel"; vmlinux?: "vmlinux"; version: string; format: "bzImage"; source: string };
  modules: string[];
  busybox: { source: string };
  /** Present when the kit carries a static bash (the guests' /bin/bash). */
  bash?: { source: string };
  agent: { version: string; compiler: string };
  files: Record<string, KitFile>;
}

export function sha256(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Hash over the sorted file list (name, mode, digest): the kit's identity. */
export function contentHash(files: Record<string, KitFile>): string {
  const lines = Object.keys(files)
    .sort()
    .map((n) => `${n}\t${files[n]!.mode.toString(8)}\t${files[n]!.sha256}\n`);
  return sha256(lines.join(""));
}

export function parseManifest(text: string): KitManifest | undefined {
  try {
    const v = JSON.parse(text) as KitManifest;
    if (v.format !== KIT_FORMAT || typeof v.hash !== "string" || typeof v.files !== "object" || !v.files)
      return undefined;
    return v;
  } catch {
    return undefined;
  }
}
