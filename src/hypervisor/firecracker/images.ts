// The image files a Firecracker VM uses: the kernel format check, per-VM copies, sparse snapshot
// memory, and the digests and host facts recorded in a snapshot's fingerprint.

import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import { resolve } from "node:path";
import { MvmError, messageOf } from "../../core/errors.js";
import { sha256File } from "../../store/checksums.js";

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

/** Punches the zero pages out of a file; false when fallocate is missing or the filesystem cannot. */
export function digHoles(path: string): Promise<boolean> {
  return new Promise((resolvePromise) => {
    execFile("fallocate", ["--dig-holes", "--", path], { timeout: 600_000 }, (err) => resolvePromise(!err));
  });
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

/** A KVM snapshot restores only on the CPU model it was taken on. */
export async function hostCpuModel(): Promise<string> {
  try {
    const text = await fs.readFile("/proc/cpuinfo", "utf8");
    const m = /^model name\s*:\s*(.+)$/m.exec(text) ?? /^CPU part\s*:\s*(.+)$/m.exec(text);
    return m?.[1]?.trim() ?? "unknown";
  } catch {
    return "unknown";
  }
}

/** Images are immutable revision files: hash each (path, size, mtime) once per process. */
const hashCache = new Map<string, Promise<string>>();
export async function cachedSha256(path: string): Promise<string> {
  const st = await fs.stat(path);
  const key = `${resolve(path)}\0${st.size}\0${st.mtimeMs}`;
  let h = hashCache.get(key);
  if (!h) {
    h = sha256File(path);
    hashCache.set(key, h);
    h.catch(() => hashCache.delete(key));
  }
  return h;
}

function firstLine(s: string | Buffer): string {
  return String(s).trim().split("\n")[0] ?? "";
}
