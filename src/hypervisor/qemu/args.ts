import { MvmError } from "../../core/errors.js";
import { hostKernelArgs, kernelCommandLine, templateKernelArgs } from "../boot-args.js";
import type { VmConfig } from "../backend.js";

// QEMU's command line, built from typed values: `-M microvm` with ACPI (the Debian kernel finds its
// virtio-mmio devices through ACPI) and no RTC (the guest's clock comes from mvm.clock), virtio block
// devices, user-mode networking with host forwards, the guest agent on a virtio-serial port, and QMP
// on a unix socket. Production (qemu/backend.ts) and the tests that boot guest images use this one
// builder, so tests run the machine that ships.

export const MACHINE = "microvm,x-option-roms=off,isa-serial=on,rtc=off,acpi=on";

/** The guest agent's virtio-serial port name (docs/guest-protocol.md). */
export const AGENT_PORT_NAME = "org.mvm.agent";

export type Accel = "kvm" | "tcg";

export interface QemuDrive {
  id: string;
  file: string;
  format: "raw" | "qcow2";
  readonly?: boolean;
  /** Writes go to a throwaway overlay (QEMU `snapshot=on`): the file is never changed. */
  throwaway?: boolean;
}

export interface QemuHostForward {
  address: string;
  host: number;
  guest: number;
}

/** Where guest RAM lives: QEMU's own anonymous memory, or a file (shared: it is the snapshot's memory). */
export type QemuMemory = { kind: "anonymous" } | { kind: "file"; path: string; shared: boolean };

export interface QemuMachine {
  /** `-name mvm-<name>`: how a VM's QEMU is recognised among the host's processes. */
  name: string;
  accel: Accel;
  /** TCG only: the translation cache in MiB (QEMU's default when undefined). */
  tbSizeMib?: number;
  vcpus: number;
  memMib: number;
  memory: QemuMemory;
  kernel: string;
  initrd?: string;
  append: string;
  /** In guest order: the root disk (/dev/vda) first. */
  drives: QemuDrive[];
  forwards: QemuHostForward[];
  /**
   * The guest's serial console: QEMU's stdout, a file, or a unix socket QEMU listens on. QEMU waits
   * for the socket's first client before the guest runs (no early output is lost) and drops output
   * while no client is connected (the guest never blocks on a missing reader).
   */
  serial: { kind: "stdio" } | { kind: "file"; path: string } | { kind: "socket"; path: string };
  /** The unix socket QEMU listens on for the guest agent's virtio-serial port. */
  agentSocket: string;
  qmpSocket?: string;
  /** `-incoming`: "defer" (migrate-incoming over QMP later) or a URI. */
  incoming?: string;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
/** Characters that would end or extend a QEMU option value. */
const OPTION_BREAK = /[,=\s]/;

function optionValue(what: string, v: string): string {
  if (v === "" || OPTION_BREAK.test(v))
    throw new MvmError("usage", `invalid ${what} for QEMU: ${JSON.stringify(v)}`);
  return v;
}

function driveArg(d: QemuDrive): string {
  const opts = [`id=${optionValue("drive id", d.id)}`, `file=${optionValue("drive file", d.file)}`];
  opts.push(`format=${d.format}`, "if=none");
  if (d.readonly) opts.push("readonly=on");
  if (d.throwaway) opts.push("snapshot=on");
  return opts.join(",");
}

/** QEMU's argv (without the program) for a machine. */
export function qemuArgv(m: QemuMachine): string[] {
  const withMem = m.memory.kind === "file" ? `${MACHINE},memory-backend=mem` : MACHINE;
  const accel = m.accel === "tcg" && m.tbSizeMib !== undefined ? `tcg,tb-size=${m.tbSizeMib}` : m.accel;
  const args = ["-name", `mvm-${m.name}`, "-M", withMem, "-accel", accel];
  args.push("-cpu", m.accel === "kvm" ? "host" : "max", "-m", `${m.memMib}M`, "-smp", String(m.vcpus));
  if (m.memory.kind === "file")
    args.push(
      "-object",
      `memory-backend-file,id=mem,size=${m.memMib}M,mem-path=${optionValue("memory file", m.memory.path)},share=${m.memory.shared ? "on" : "off"}`,
    );
  args.push("-nodefaults", "-no-user-config", "-display", "none", "-no-reboot");
  if (m.serial.kind === "socket")
    args.push(
      "-chardev",
      `socket,id=console,path=${optionValue("console socket", m.serial.path)},server=on,wait=on`,
      "-serial",
      "chardev:console",
    );
  else args.push("-serial", m.serial.kind === "stdio" ? "stdio" : `file:${m.serial.path}`);
  args.push("-kernel", m.kernel);
  if (m.initrd) args.push("-initrd", m.initrd);
  args.push("-append", m.append);
  for (const d of m.drives) args.push("-drive", driveArg(d), "-device", `virtio-blk-device,drive=${d.id}`);
  let netdev = "user,id=net0";
  for (const f of m.forwards) {
    if (!IPV4.test(f.address))
      throw new MvmError("usage", `invalid host address ${JSON.stringify(f.address)}`);
    netdev += `,hostfwd=tcp:${f.address}:${f.host}-:${f.guest}`;
  }
  args.push("-netdev", netdev, "-device", "virtio-net-device,netdev=net0");
  args.push(
    "-device",
    "virtio-serial-device",
    "-chardev",
    `socket,id=agent,path=${optionValue("agent socket", m.agentSocket)},server=on,wait=off`,
    "-device",
    `virtserialport,chardev=agent,name=${AGENT_PORT_NAME}`,
  );
  if (m.qmpSocket) args.push("-qmp", `unix:${optionValue("QMP socket", m.qmpSocket)},server=on,wait=off`);
  if (m.incoming) args.push("-incoming", m.incoming);
  return args;
}

/**
 * The template's part of the kernel command line (recorded and compared). `init_on_free=1`: pages the
 * guest frees are zeroed, so they become holes in a snapshot's memory file (an idle 256 MiB guest:
 * 56 MiB allocated instead of ~90) and freed data (keys, buffers) never reaches a snapshot that is
 * copied to other hosts.
 */
export function stableBootArgs(cfg: Pick<VmConfig, "bootArgs">): string {
  return templateKernelArgs(["console=ttyS0", "panic=-1", "quiet", "init_on_free=1"], cfg.bootArgs);
}

/** The template's part plus host tuning and the host's wall clock (microvm runs without an RTC). */
export function fullBootArgs(cfg: Pick<VmConfig, "bootArgs">, accel: Accel, extra: string[] = []): string {
  return kernelCommandLine(stableBootArgs(cfg), [
    ...hostKernelArgs({ tcg: accel === "tcg", clock: true }),
    ...extra,
  ]);
}

/** The extra drives in the order the guest contract expects them: vdb config, vdc secrets, vdd data. */
export function extraDrives(
  cfg: Pick<VmConfig, "drives">,
): Array<{ id: string; path: string; readonly: boolean }> {
  const out: Array<{ id: string; path: string; readonly: boolean }> = [];
  if (cfg.drives?.config) out.push({ id: "config", path: cfg.drives.config, readonly: true });
  if (cfg.drives?.secrets) out.push({ id: "secrets", path: cfg.drives.secrets, readonly: true });
  if (cfg.drives?.data) out.push({ id: "data", path: cfg.drives.data, readonly: false });
  return out;
}

/** Files in a QEMU VM's directory (QEMU's cwd: every name on its command line is relative). */
export const QEMU_FILES = {
  qmp: "qmp.sock",
  agent: "agent.sock",
  /** The keeper's socket that shares the agent channel among clients (guest/mux.ts). */
  guest: "guest.sock",
  console: "console.log",
  /** The console's socket, when the keeper reads the console from a socket (keeper/kept.ts). */
  consoleSocket: "console.sock",
  log: "qemu.log",
  disk: "disk.qcow2",
  mem: "mem.bin",
  vmstate: "vmstate.bin",
  kernel: "kernel",
  initrd: "initrd",
  /** Links to the snapshot being restored (inside the revision, never written). */
  snapVmstate: "restore-vmstate.bin",
  snapMem: "restore-mem.bin",
  record: "qemu.json",
} as const;

export interface VmMachineOptions {
  accel: Accel;
  /** TCG only: the translation cache in MiB (QEMU's default when undefined). */
  tbSizeMib?: number;
  /** RAM: QEMU's own ("anonymous"), a file of the VM dir ("shared": snapshotable), or a snapshot's mapped privately. */
  memory: "anonymous" | "shared" | "private";
  incoming: boolean;
  /** The console on a socket (QEMU_FILES.consoleSocket) instead of QEMU's stdout. */
  consoleSocket?: boolean;
}

/** The machine of an mvmctl VM: every file relative to the VM directory, where QEMU runs. */
export function vmMachine(cfg: VmConfig, o: VmMachineOptions): QemuMachine {
  return {
    name: cfg.name,
    accel: o.accel,
    ...(o.tbSizeMib !== undefined ? { tbSizeMib: o.tbSizeMib } : {}),
    vcpus: cfg.vcpus,
    memMib: cfg.memMib,
    memory:
      o.memory === "anonymous"
        ? { kind: "anonymous" }
        : {
            kind: "file",
            path: o.memory === "shared" ? QEMU_FILES.mem : QEMU_FILES.snapMem,
            shared: o.memory === "shared",
          },
    kernel: QEMU_FILES.kernel,
    ...(cfg.images.initrd ? { initrd: QEMU_FILES.initrd } : {}),
    append: fullBootArgs(cfg, o.accel),
    drives: [
      { id: "root", file: QEMU_FILES.disk, format: "qcow2" },
      ...extraDrives(cfg).map(
        (d): QemuDrive => ({ id: d.id, file: `drive-${d.id}.img`, format: "raw", readonly: d.readonly }),
      ),
    ],
    forwards: cfg.ports.map((p) => ({ address: p.hostAddress ?? "127.0.0.1", host: p.host, guest: p.guest })),
    // The console goes to QEMU's stdout or its socket; the keeper writes it into a bounded, rotated log.
    serial: o.consoleSocket ? { kind: "socket", path: QEMU_FILES.consoleSocket } : { kind: "stdio" },
    agentSocket: QEMU_FILES.agent,
    qmpSocket: QEMU_FILES.qmp,
    ...(o.incoming ? { incoming: "defer" } : {}),
  };
}

/** QEMU's argv (without the program) for an mvmctl VM. */
export function qemuArgs(cfg: VmConfig, o: VmMachineOptions): string[] {
  return qemuArgv(vmMachine(cfg, o));
}
