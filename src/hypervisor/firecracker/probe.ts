// Whether Firecracker can really run a guest on this host. /dev/kvm can exist, be writable and still
// not work (nested virtualisation without the right MSRs, a broken module), so `auto` only picks
// Firecracker after a real run: a 16 MiB microVM whose "kernel" is five instructions that ask the
// keyboard controller for a reset. Firecracker exits 0 when its guest resets, so a clean exit within
// the time limit means KVM, the binary and the loader all work. It runs with --no-api and a config
// file, takes a few milliseconds where KVM works, and its answer is cached per Firecracker version
// and host kernel.

import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import { release, tmpdir } from "node:os";
import { join } from "node:path";

/** Guest-physical load address: Firecracker loads x86_64 kernels at or above 1 MiB. */
const LOAD_ADDR = 0x100000;

/**
 * A minimal x86_64 ELF executable: one PT_LOAD segment at 1 MiB whose entry point runs
 * `mov al, 0xfe; out 0x64, al` (i8042 CPU reset, what Linux does for `reboot=k`), then `hlt` forever.
 */
export function probeKernel(): Buffer {
  const code = Buffer.from([0xb0, 0xfe, 0xe6, 0x64, 0xf4, 0xeb, 0xfd]);
  const ehSize = 64;
  const phSize = 56;
  const codeOff = ehSize + phSize;
  const total = codeOff + code.length;
  const b = Buffer.alloc(total);
  // e_ident: magic, 64-bit, little-endian, version 1, System V ABI.
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], 0);
  b.writeUInt16LE(2, 16); // e_type: EXEC
  b.writeUInt16LE(0x3e, 18); // e_machine: x86-64
  b.writeUInt32LE(1, 20); // e_version
  b.writeBigUInt64LE(BigInt(LOAD_ADDR + codeOff), 24); // e_entry
  b.writeBigUInt64LE(BigInt(ehSize), 32); // e_phoff
  b.writeBigUInt64LE(0n, 40); // e_shoff: no sections
  b.writeUInt32LE(0, 48); // e_flags
  b.writeUInt16LE(ehSize, 52); // e_ehsize
  b.writeUInt16LE(phSize, 54); // e_phentsize
  b.writeUInt16LE(1, 56); // e_phnum
  b.writeUInt16LE(64, 58); // e_shentsize
  b.writeUInt16LE(0, 60); // e_shnum
  b.writeUInt16LE(0, 62); // e_shstrndx
  // Program header: PT_LOAD, R+X, the whole file at 1 MiB.
  b.writeUInt32LE(1, ehSize); // p_type
  b.writeUInt32LE(5, ehSize + 4); // p_flags
  b.writeBigUInt64LE(0n, ehSize + 8); // p_offset
  b.writeBigUInt64LE(BigInt(LOAD_ADDR), ehSize + 16); // p_vaddr
  b.writeBigUInt64LE(BigInt(LOAD_ADDR), ehSize + 24); // p_paddr
  b.writeBigUInt64LE(BigInt(total), ehSize + 32); // p_filesz
  b.writeBigUInt64LE(BigInt(total), ehSize + 40); // p_memsz
  b.writeBigUInt64LE(0x1000n, ehSize + 48); // p_align
  b.set(code, codeOff);
  return b;
}

export interface ProbeResult {
  ok: boolean;
  reason?: string;
}

/** Boots the probe guest once (no cache). */
export async function runKvmProbe(
  bin: string,
  workDir: string,
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 5_000,
): Promise<ProbeResult> {
  await fs.mkdir(workDir, { recursive: true, mode: 0o700 });
  const kernel = join(workDir, "probe.elf");
  const config = join(workDir, "probe.json");
  await fs.writeFile(kernel, probeKernel(), { mode: 0o600 });
  await fs.writeFile(
    config,
    JSON.stringify({
      "boot-source": { kernel_image_path: kernel, boot_args: "" },
      "machine-config": { vcpu_count: 1, mem_size_mib: 16, smt: false },
    }),
    { mode: 0o600 },
  );
  try {
    return await new Promise<ProbeResult>((resolve) => {
      execFile(
        bin,
        ["--no-api", "--config-file", config],
        { cwd: workDir, env, timeout: timeoutMs, killSignal: "SIGKILL" },
        (err, stdout, stderr) => {
          if (!err) return resolve({ ok: true });
          const e = err as Error & { killed?: boolean; code?: number | string };
          if (e.killed)
            return resolve({ ok: false, reason: `a test microVM did not finish within ${timeoutMs} ms` });
          const said = `${stderr}\n${stdout}`
            .split("\n")
            .map((l) => l.trim())
            .filter(Boolean)
            .pop();
          resolve({
            ok: false,
            reason: `a test microVM failed (exit ${e.code ?? "?"})${said ? `: ${said.slice(0, 200)}` : ""}`,
          });
        },
      );
    });
  } finally {
    await fs.rm(kernel, { force: true });
    await fs.rm(config, { force: true });
  }
}

/** A failed probe is re-run after this long (it may have been a busy host, or KVM got fixed). */
const FAILURE_TTL_MS = 60 * 60 * 1000;

/** The probe, its result remembered in `cacheDir` for this Firecracker version and host kernel. */
export async function kvmProbeCached(
  bin: string,
  version: string,
  cacheDir: string,
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs?: number,
): Promise<ProbeResult> {
  const key = `${version}-${release()}`.replace(/[^A-Za-z0-9._-]/g, "_");
  const file = join(cacheDir, `.fc-kvm-probe-${key}`);
  try {
    const known = JSON.parse(await fs.readFile(file, "utf8")) as ProbeResult & { at?: number };
    const fresh =
      known.ok === true || (typeof known.at === "number" && Date.now() - known.at < FAILURE_TTL_MS);
    if (typeof known.ok === "boolean" && fresh)
      return known.ok ? { ok: true } : { ok: false, reason: known.reason ?? "failed" };
  } catch {
    // not probed yet
  }
  // Its files live in the temp dir, not among the VM directories it caches its answer next to.
  const work = join(tmpdir(), `mvm-fc-kvm-probe-${process.pid}`);
  let result: ProbeResult;
  try {
    result = await runKvmProbe(bin, work, env, timeoutMs);
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
  await fs.mkdir(cacheDir, { recursive: true });
  await fs.writeFile(file, JSON.stringify({ ...result, at: Date.now() }), { mode: 0o644 });
  return result;
}
