// What `mvmctl doctor` reports about Firecracker: the binary, its version, /dev/kvm access and
// whether a test microVM really runs, and whether this process can give VMs TAP devices. Firecracker is optional (QEMU runs everywhere), so a
// missing binary is a warning; a binary that is there but cannot work is a failure.

import { promises as fs } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DoctorCheck } from "../../core/doctor.js";
import { messageOf } from "../../core/errors.js";
import { lookupTool } from "../../host/tools.js";
import { findFirecracker, firecrackerVersion, NETWORK_OVERRIDES_SINCE, versionAtLeast } from "./binary.js";
import { runKvmProbe } from "./probe.js";

const RELEASES = "https://github.com/firecracker-microvm/firecracker/releases";

export interface FirecrackerDoctorOptions {
  env?: NodeJS.ProcessEnv;
  /** The KVM device to check (a parameter so the check can be pointed elsewhere). */
  kvmPath?: string;
}

export async function firecrackerChecks(opts: FirecrackerDoctorOptions = {}): Promise<DoctorCheck[]> {
  const env = opts.env ?? process.env;
  const out: DoctorCheck[] = [];
  const found = lookupTool("firecracker", env);
  const bin = await findFirecracker(env);
  if (!bin) {
    out.push(
      found.chosenBy
        ? {
            name: "firecracker",
            status: "fail",
            detail: found.problem ?? "not found",
            fix: "point MVM_FIRECRACKER_BIN at the firecracker binary, or unset it",
          }
        : {
            name: "firecracker",
            status: "warn",
            detail: "not found on PATH: VMs use the QEMU backend",
            fix: `install a release from ${RELEASES} as firecracker on PATH (or set MVM_FIRECRACKER_BIN)`,
          },
    );
  } else {
    out.push({ name: "firecracker", status: "ok", detail: bin });
    try {
      const v = await firecrackerVersion(bin, env);
      out.push(
        versionAtLeast(v, NETWORK_OVERRIDES_SINCE)
          ? { name: "firecracker version", status: "ok", detail: `v${v}` }
          : {
              name: "firecracker version",
              status: "warn",
              detail: `v${v}: restored VMs cannot be given their own TAP (network_overrides needs v${NETWORK_OVERRIDES_SINCE.join(".")})`,
              fix: `upgrade Firecracker (${RELEASES}), or set MVM_FIRECRACKER_NETWORK=none`,
            },
      );
    } catch (e) {
      out.push({
        name: "firecracker version",
        status: "fail",
        detail: messageOf(e),
        fix: `reinstall Firecracker from ${RELEASES}`,
      });
    }
  }
  const kvm = await kvmAccess(opts.kvmPath ?? "/dev/kvm", bin !== undefined);
  out.push(kvm);
  if (bin && kvm.status === "ok") out.push(await microVmRuns(bin, env));
  if (bin) out.push(await tapAbility());
  return out;
}

/** Firecracker opens /dev/kvm read/write; without it every start fails. */
async function kvmAccess(path: string, needed: boolean): Promise<DoctorCheck> {
  const name = "firecracker /dev/kvm";
  try {
    await fs.access(path, fs.constants.R_OK | fs.constants.W_OK);
    return { name, status: "ok", detail: `${path} is readable and writable` };
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === "ENOENT";
    return {
      name,
      status: needed ? "fail" : "warn",
      detail: missing
        ? `${path} does not exist: Firecracker needs KVM`
        : `${path} is not readable and writable by this user`,
      fix: missing
        ? "enable hardware virtualisation (BIOS, or nested virtualisation on a cloud VM) and load the kvm module"
        : `sudo setfacl -m u:$(id -un):rw ${path}  (or add the user to the kvm group)`,
    };
  }
}

/** The real test: a 16 MiB microVM that resets at once (probe.ts). */
async function microVmRuns(bin: string, env: NodeJS.ProcessEnv): Promise<DoctorCheck> {
  const name = "firecracker microVM";
  const work = join(tmpdir(), `mvm-fc-doctor-${process.pid}`);
  try {
    const r = await runKvmProbe(bin, work, env);
    return r.ok
      ? { name, status: "ok", detail: "a test microVM booted and reset" }
      : {
          name,
          status: "fail",
          detail: r.reason ?? "a test microVM failed",
          fix: "check `dmesg` for KVM errors; on a cloud VM enable nested virtualisation; or use --hypervisor qemu",
        };
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

/** TAP devices need CAP_NET_ADMIN and /dev/net/tun; without them VMs can still run with vsock only. */
async function tapAbility(): Promise<DoctorCheck> {
  const name = "firecracker networking";
  const tun = await fs
    .access("/dev/net/tun")
    .then(() => true)
    .catch(() => false);
  const capable = process.getuid?.() === 0 || (await hasNetAdmin());
  if (tun && capable) return { name, status: "ok", detail: "can create a TAP device per VM" };
  return {
    name,
    status: "warn",
    detail: !tun ? "/dev/net/tun is missing" : "creating TAP devices needs root or CAP_NET_ADMIN",
    fix: "run mvmctl as root, or set MVM_FIRECRACKER_NETWORK=none for VMs reachable over vsock only",
  };
}

async function hasNetAdmin(): Promise<boolean> {
  try {
    const status = await fs.readFile("/proc/self/status", "utf8");
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
    // CAP_NET_ADMIN is capability 12.
    return m?.[1] ? (BigInt(`0x${m[1]}`) & (1n << 12n)) !== 0n : false;
  } catch {
    return false;
  }
}
