import { promises as fs } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { MvmError } from "../core/errors.js";
import { fsyncDir, tempSibling } from "../host/files.js";
import { removeDirAtomic, replaceSymlink } from "../store/atomic.js";
import type { DataPaths } from "../store/paths.js";
import { agentSources, compileAgent, compilerVersion } from "./agent.js";
import { type CpioEntry, writeCpio } from "./cpio.js";
import { runProgram } from "../host/process.js";
import { guestSourceDir } from "./library.js";
import { contentHash, KIT_FORMAT, type KitFile, type KitManifest, sha256 } from "./manifest.js";
import { type ModulePlan, resolveModules } from "./modules.js";
import { extractVmlinux } from "./vmlinux.js";
import {
  DEFAULT_SOURCES,
  findCloudKernel,
  type KernelChoice,
  type KitHostSources,
  readStaticBash,
  readStaticBusybox,
} from "./sources.js";

const AGENT_VERSION = "0.1.0";

export interface KitBuildOptions {
  sources?: Partial<KitHostSources>;
  onProgress?: (message: string) => void;
}

export interface KitResult {
  dir: string;
  hash: string;
  created: boolean;
}

/** Everything the kit is made of, read from the host; enough to fingerprint it before building. */
export interface KitInputs {
  src: KitHostSources;
  kernel: KernelChoice;
  kernelImage: Buffer;
  modules: ModulePlan;
  moduleBytes: Map<string, Buffer>;
  busybox: Buffer;
  /** Static bash for /bin/bash in guests, when the host has one. */
  bash: Buffer | undefined;
  agentDir: string;
  initrdInit: Buffer;
  compiler: string;
  fingerprint: string;
}

async function readModule(modulesDir: string, rel: string): Promise<Buffer> {
  const path = join(modulesDir, rel);
  if (rel.endsWith(".ko")) return fs.readFile(path);
  // busybox insmod takes plain .ko files: decompress what newer Debian kernels ship compressed.
  const tool = rel.endsWith(".xz")
    ? ["xz", "xz-utils"]
    : rel.endsWith(".zst")
      ? ["zstd", "zstd"]
      : ["gzip", "gzip"];
  const r = await runProgram(tool[0]!, ["-dc", path], {
    missing: () =>
      new MvmError("not_found", `${tool[0]} is needed to unpack ${rel}`, {
        hint: `apt-get install -y ${tool[1]}`,
      }),
  });
  if (r.code !== 0) throw new MvmError("external", `cannot decompress ${path}: ${r.stderr.trim()}`);
  return r.stdoutBytes;
}

export async function readKitInputs(opts: KitBuildOptions = {}): Promise<KitInputs> {
  const src = { ...DEFAULT_SOURCES, ...opts.sources };
  const kernel = await findCloudKernel(src);
  const [kernelImage, modules, busybox, bash, compiler] = await Promise.all([
    fs.readFile(kernel.image),
    resolveModules(kernel.modulesDir),
    readStaticBusybox(src),
    readStaticBash(src),
    compilerVersion(src.cc),
  ]);
  const moduleBytes = new Map<string, Buffer>();
  for (const name of modules.order)
    moduleBytes.set(name, await readModule(kernel.modulesDir, modules.files.get(name)!));
  const guest = guestSourceDir();
  const agentDir = join(guest, "agent");
  const initrdInit = await fs.readFile(join(guest, "init", "initrd-init.sh"));
  const fp: string[] = [`format ${KIT_FORMAT}`, `kernel ${kernel.version} ${sha256(kernelImage)}`];
  for (const name of modules.order) fp.push(`module ${name} ${sha256(moduleBytes.get(name)!)}`);
  fp.push(`busybox ${sha256(busybox)}`, `initrd-init ${sha256(initrdInit)}`, `cc ${compiler}`);
  if (bash) fp.push(`bash ${sha256(bash)}`);
  for (const [n, b] of await agentSources(agentDir)) fp.push(`agent ${n} ${sha256(b)}`);
  return {
    src,
    kernel,
    kernelImage,
    modules,
    moduleBytes,
    busybox,
    bash,
    agentDir,
    initrdInit,
    compiler,
    fingerprint: sha256(fp.join("\n")),
  };
}

/** The initramfs: busybox, the modules with their load order, /dev/console, and our init. */
export function buildInitrd(
  inp: Pick<KitInputs, "busybox" | "modules" | "moduleBytes" | "initrdInit">,
): Buffer {
  const entries: CpioEntry[] = [
    { name: "bin", kind: "dir", mode: 0o755 },
    { name: "bin/busybox", kind: "file", mode: 0o755, data: inp.busybox },
    { name: "dev", kind: "dir", mode: 0o755 },
    // The kernel opens /dev/console for init's stdin/stdout/stderr before any devtmpfs exists.
    { name: "dev/console", kind: "chardev", mode: 0o600, major: 5, minor: 1 },
    { name: "init", kind: "file", mode: 0o755, data: inp.initrdInit },
    { name: "lib", kind: "dir", mode: 0o755 },
    { name: "lib/modules", kind: "dir", mode: 0o755 },
    {
      name: "lib/modules/load-order",
      kind: "file",
      mode: 0o644,
      data: Buffer.from(`${inp.modules.order.join("\n")}\n`),
    },
    { name: "newroot", kind: "dir", mode: 0o755 },
    { name: "proc", kind: "dir", mode: 0o755 },
    { name: "sys", kind: "dir", mode: 0o755 },
  ];
  for (const name of inp.modules.order)
    entries.push({
      name: `lib/modules/${name}.ko`,
      kind: "file",
      mode: 0o644,
      data: inp.moduleBytes.get(name)!,
    });
  return gzipSync(writeCpio(entries), { level: 9 });
}

async function writeSynced(path: string, data: Uint8Array, mode: number): Promise<KitFile> {
  const h = await fs.open(path, "wx", mode);
  try {
    await h.writeFile(data);
    await h.sync();
  } finally {
    await h.close();
  }
  return { sha256: sha256(data), size: data.length, mode };
}

/**
 * Builds the kit under a temp name in <data>/kit, renames it to its content hash and points
 * <data>/kit/current at it. Callers serialise through ensureKit's lock.
 */
export async function buildKitFrom(
  paths: DataPaths,
  inp: KitInputs,
  progress: (m: string) => void,
): Promise<KitResult> {
  const root = paths.kit;
  await fs.mkdir(root, { recursive: true });
  const tmp = tempSibling(join(root, "kit"), "build");
  await fs.mkdir(tmp);
  try {
    const files: Record<string, KitFile> = {};
    progress(`compiling the guest agent (${inp.compiler})`);
    const agentTmp = join(tmp, "mvm-agent");
    await compileAgent(inp.src.cc, inp.agentDir, agentTmp);
    const agent = await fs.readFile(agentTmp);
    await fs.rm(agentTmp);
    files["mvm-agent"] = await writeSynced(agentTmp, agent, 0o755);
    progress(`kernel ${inp.kernel.version}, ${inp.modules.order.length} modules, busybox`);
    files.kernel = await writeSynced(join(tmp, "kernel"), inp.kernelImage, 0o644);
    // Firecracker boots only an ELF vmlinux (QEMU boots it too, through PVH).
    progress("unpacking vmlinux from the bzImage");
    files.vmlinux = await writeSynced(join(tmp, "vmlinux"), await extractVmlinux(inp.kernelImage), 0o644);
    files.busybox = await writeSynced(join(tmp, "busybox"), inp.busybox, 0o755);
    if (inp.bash) files.bash = await writeSynced(join(tmp, "bash"), inp.bash, 0o755);
    await fs.mkdir(join(tmp, "modules"));
    for (const name of inp.modules.order)
      files[`modules/${name}.ko`] = await writeSynced(
        join(tmp, "modules", `${name}.ko`),
        inp.moduleBytes.get(name)!,
        0o644,
      );
    files["modules/load-order"] = await writeSynced(
      join(tmp, "modules", "load-order"),
      Buffer.from(`${inp.modules.order.join("\n")}\n`),
      0o644,
    );
    progress("initramfs");
    files.initrd = await writeSynced(join(tmp, "initrd"), buildInitrd(inp), 0o644);
    const hash = contentHash(files);
    const manifest: KitManifest = {
      format: KIT_FORMAT,
      system: "x86_64-linux",
      hash,
      inputs: inp.fingerprint,
      kernel: {
        file: "kernel",
        vmlinux: "vmlinux",
        version: inp.kernel.version,
        format: "bzImage",
        source: inp.kernel.image,
      },
      modules: inp.modules.order,
      busybox: { source: inp.src.busybox },
      ...(inp.bash ? { bash: { source: inp.src.bash } } : {}),
      agent: { version: AGENT_VERSION, compiler: inp.compiler },
      files,
    };
    await writeSynced(join(tmp, "kit.json"), Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`), 0o644);
    await fsyncDir(join(tmp, "modules"));
    await fsyncDir(tmp);

    const id = hash.slice(0, 16);
    const dir = join(root, id);
    let created = true;
    try {
      await fs.rename(tmp, dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "EEXIST" && code !== "ENOTEMPTY") throw e;
      created = false; // the same kit already exists: identical bytes, keep the old one
      await removeDirAtomic(tmp);
    }
    await fsyncDir(root);
    await replaceSymlink(join(root, "current"), id);
    return { dir, hash: id, created };
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw e;
  }
}
