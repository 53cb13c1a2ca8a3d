import { spawn } from "node:child_process";
import { promises as fs } from "node:fs";
import { basename, join } from "node:path";
import { packRootfs } from "../../src/builder/rootfs-pack.js";
import { ensureKit, nixLibraryDir } from "../../src/kit/index.js";
import { removeDirAtomic, tempSibling } from "../../src/store/atomic.js";
import { DataPaths } from "../../src/store/paths.js";

// Shared by every test that boots a guest: the offline kit and example images, built at most once
// per machine and cached under a directory keyed by content (the Nix output path), so CI and
// repeated local runs pay for them once. MVM_TEST_CACHE overrides the location.

export function testCacheRoot(): string {
  return process.env.MVM_TEST_CACHE?.trim() || "/var/tmp/mvm-test-cache";
}

export interface TestKit {
  dir: string;
  hash: string;
}

/** The guest kit built from this host's Debian packages, in the test cache's own data dir. */
export async function ensureTestKit(): Promise<TestKit> {
  const r = await ensureKit(new DataPaths(join(testCacheRoot(), "data")));
  return { dir: r.dir, hash: r.hash };
}

export interface GuestImage {
  dir: string;
  kernel: string;
  initrd: string;
  rootfs: string;
  /** The mkGuest output it was made from. */
  storePath: string;
}

export function nixArgs(): string[] {
  const args = ["--extra-experimental-features", "nix-command flakes", "--option", "substituters", ""];
  if (process.getuid?.() === 0) args.push("--option", "build-users-group", "");
  return args;
}

export interface NixBuildResult {
  code: number;
  stdout: string;
  stderr: string;
  outPath?: string;
}

/** `nix build --json --no-link` of an offline flake with the library and kit as path inputs. */
export function nixBuildOffline(
  flakeDir: string,
  kitDir: string,
  extra: string[] = [],
): Promise<NixBuildResult> {
  const argv = [
    ...nixArgs(),
    "build",
    "--json",
    "--no-link",
    "--no-write-lock-file",
    ...extra,
    `path:${flakeDir}`,
    "--override-input",
    "mvm",
    `path:${nixLibraryDir()}`,
    "--override-input",
    "mvm-kit",
    `path:${kitDir}`,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn("nix", argv, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      let outPath: string | undefined;
      if (code === 0) {
        const parsed = JSON.parse(stdout) as Array<{ outputs: { out: string } }>;
        outPath = parsed[0]?.outputs.out;
      }
      resolve({ code: code ?? 1, stdout, stderr, outPath });
    });
  });
}

/** Builds an offline flake and returns its image (kernel, initrd, packed rootfs.ext4), cached. */
export async function buildFlakeImage(flakeDir: string): Promise<GuestImage> {
  const kit = await ensureTestKit();
  const r = await nixBuildOffline(flakeDir, kit.dir);
  if (r.code !== 0 || !r.outPath)
    throw new Error(`nix build of ${flakeDir} failed:\n${r.stderr.slice(-3000)}`);
  const storePath = r.outPath;
  const imagesDir = join(testCacheRoot(), "images");
  const dir = join(imagesDir, basename(storePath));
  // mkGuest outputs `kernel` (bzImage) or, with kernelFormat = "vmlinux", `vmlinux` (ELF).
  const kernelName = await fs
    .access(join(storePath, "vmlinux"))
    .then(() => "vmlinux")
    .catch(() => "kernel");
  const image = (d: string): GuestImage => ({
    dir: d,
    kernel: join(d, kernelName),
    initrd: join(d, "initrd"),
    rootfs: join(d, "rootfs.ext4"),
    storePath,
  });
  try {
    await fs.access(join(dir, "rootfs.ext4"));
    return image(dir);
  } catch {
    // not cached yet
  }
  await fs.mkdir(imagesDir, { recursive: true });
  const tmp = tempSibling(dir, "build");
  await fs.mkdir(tmp);
  try {
    await fs.copyFile(join(storePath, kernelName), join(tmp, kernelName));
    await fs.copyFile(join(storePath, "initrd"), join(tmp, "initrd"));
    await packRootfs(join(storePath, "rootfs"), join(tmp, "rootfs.ext4"));
    try {
      await fs.rename(tmp, dir);
    } catch {
      await removeDirAtomic(tmp); // another test process cached the same image first
    }
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw e;
  }
  return image(dir);
}

export type ExampleName = "minimal" | "http" | "worker";

export function exampleFlakeDir(name: ExampleName): string {
  return join(nixLibraryDir(), "examples", name);
}

/** One of nix/examples/{minimal,http,worker}, built offline and packed. */
export function buildExampleImage(name: ExampleName): Promise<GuestImage> {
  return buildFlakeImage(exampleFlakeDir(name));
}

/** A Nix string literal holding exactly `s`. */
export function nixString(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\$\{/g, "\\${").replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(/\t/g, "\\t")}"`;
}
