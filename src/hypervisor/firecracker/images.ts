// The image files a Firecracker VM uses: the kernel format check and per-VM copies that share blocks
// with the revision where the filesystem can.

import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import { MvmError, messageOf } from "../../core/errors.js";

/**
 * Firecracker on x86_64 loads only an uncompressed ELF `vmlinux`. A bzImage (what distributions ship
 * in /boot) would fail at InstanceStart with a loader error; say so before starting anything.
 */
export async function checkKernelFormat(kernel: string): Promise<void> {
  if (process.arch !== "x64") return;
  let head: Buffer;
  try {
    const h = await fs.open(kernel, "r");
    try {
      head = Buffer.alloc(0x206);
      const { bytesRead } = await h.read(head, 0, head.length, 0);
      head = head.subarray(0, bytesRead);
    } finally {
      await h.close();
    }
  } catch (e) {
    throw new MvmError("not_found", `cannot read the kernel ${kernel}: ${messageOf(e)}`);
  }
  if (head.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) return;
  const bz = head.length >= 0x206 && head.subarray(0x202, 0x206).toString("latin1") === "HdrS";
  throw new MvmError(
    "unsupported",
    `Firecracker boots an uncompressed ELF vmlinux; ${kernel} is ${bz ? "a bzImage" : "not an ELF image"}`,
    {
      hint: "Ship a vmlinux in the template (scripts/extract-vmlinux from the kernel tree), or use --hypervisor qemu.",
    },
  );
}

/** A per-VM copy that shares blocks where the filesystem can (reflink) and keeps holes everywhere. */
export function copySparse(src: string, dst: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      "cp",
      ["--reflink=auto", "--sparse=always", "--no-preserve=mode,ownership", "--", src, dst],
      { timeout: 600_000 },
      (err, _o, stderr) => {
        if (err)
          reject(
            new MvmError("external", `copying ${src} to ${dst} failed: ${firstLine(stderr) || err.message}`),
          );
        else resolvePromise();
      },
    );
  });
}

function firstLine(s: string | Buffer): string {
  return String(s).trim().split("\n")[0] ?? "";
}
