import { promises as fs } from "node:fs";
import { join } from "node:path";
import { MvmError } from "../core/errors.js";

// Where the kit's parts come from on a Debian host. Each missing part names its package and the
// apt-get line that installs it.

export interface KitHostSources {
  /** Directory holding vmlinuz-<version> files (default /boot). */
  bootDir: string;
  /** Directory holding <version>/modules.dep trees (default /lib/modules). */
  modulesRoot: string;
  /** A static busybox binary (default /bin/busybox from busybox-static). */
  busybox: string;
  /** C compiler used for the agent (default gcc). */
  cc: string;
  /** A static bash for the guests' /bin/bash, used when present (default /bin/bash-static from bash-static). */
  bash: string;
}

export const DEFAULT_SOURCES: KitHostSources = {
  bootDir: "/boot",
  modulesRoot: "/lib/modules",
  busybox: "/bin/busybox",
  cc: "gcc",
  bash: "/bin/bash-static",
};

export function missingPackage(what: string, pkg: string): MvmError {
  return new MvmError("not_found", `${what} is missing (Debian package ${pkg})`, {
    hint: `Install it: apt-get install -y ${pkg}`,
  });
}

export interface KernelChoice {
  version: string;
  image: string;
  modulesDir: string;
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
  const pb = b.split(/[.-]/).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? 0;
    const y = pb[i] ?? 0;
    if (x === y) continue;
    if (typeof x === "number" && typeof y === "number") return x - y;
    return String(x) < String(y) ? -1 : 1;
  }
  return 0;
}

/** The newest Debian cloud kernel that has its modules installed. */
export async function findCloudKernel(src: KitHostSources): Promise<KernelChoice> {
  let names: string[] = [];
  try {
    names = await fs.readdir(src.bootDir);
  } catch {
    // No /boot at all: same remedy as an empty one.
  }
  const versions: string[] = [];
  for (const n of names) {
    const m = /^vmlinuz-(.+-cloud-amd64)$/.exec(n);
    if (!m?.[1]) continue;
    try {
      await fs.access(join(src.modulesRoot, m[1], "modules.dep"));
      versions.push(m[1]);
    } catch {
      // A kernel image without its modules cannot drive virtio: skip it.
    }
  }
  versions.sort(compareVersions);
  const version = versions.at(-1);
  if (!version)
    throw missingPackage(
      `the guest kernel (${src.bootDir}/vmlinuz-*-cloud-amd64 with its modules)`,
      "linux-image-cloud-amd64",
    );
  const image = join(src.bootDir, `vmlinuz-${version}`);
  try {
    await fs.access(image, fs.constants.R_OK);
  } catch {
    throw new MvmError("external", `cannot read ${image}`, {
      hint: "Debian installs kernels readable by root only: run 'mvmctl kit build' as root once.",
    });
  }
  return { version, image, modulesDir: join(src.modulesRoot, version) };
}

/** True when an ELF file has no PT_INTERP program header, i.e. runs without a dynamic loader. */
export function isStaticElf(bytes: Buffer): boolean {
  if (bytes.length < 64 || bytes.readUInt32BE(0) !== 0x7f454c46) return false;
  if (bytes[4] !== 2) return false; // ELFCLASS64 only: the kit is for x86_64
  const phoff = Number(bytes.readBigUInt64LE(0x20));
  const phentsize = bytes.readUInt16LE(0x36);
  const phnum = bytes.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const off = phoff + i * phentsize;
    if (off + 4 > bytes.length) return false;
    if (bytes.readUInt32LE(off) === 3) return false; // PT_INTERP
  }
  return true;
}

export async function readStaticBusybox(src: KitHostSources): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(src.busybox);
  } catch {
    throw missingPackage(`busybox (${src.busybox})`, "busybox-static");
  }
  if (!isStaticElf(bytes))
    throw missingPackage(`a static busybox (${src.busybox} is dynamically linked)`, "busybox-static");
  return bytes;
}

/**
 * The static bash guests get as /bin/bash (E2B's SDK runs every command as `/bin/bash -l -c`), or
 * undefined when the host has none: bash is optional, busybox sh serves everything else.
 */
export async function readStaticBash(src: KitHostSources): Promise<Buffer | undefined> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(src.bash);
  } catch {
    return undefined;
  }
  if (!isStaticElf(bytes))
    throw missingPackage(`a static bash (${src.bash} is dynamically linked)`, "bash-static");
  return bytes;
}
