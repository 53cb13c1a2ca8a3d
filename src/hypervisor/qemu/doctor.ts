import type { DoctorCheck } from "../../core/doctor.js";
import { messageOf } from "../../core/errors.js";
import { checkToolVersion } from "../../host/tool-checks.js";
import type { DataPaths } from "../../store/paths.js";
import type { DoctorOptions } from "../backend.js";
import { QemuBackend } from "./backend.js";

// What `mvmctl doctor` reports about QEMU: both programs, and whether guests get KVM or TCG.

export async function qemuChecks(paths: DataPaths, opts: DoctorOptions): Promise<DoctorCheck[]> {
  const tools = await Promise.all([
    checkToolVersion("qemu", "qemu", /QEMU emulator version/),
    checkToolVersion("qemu-img", "qemu-img", /qemu-img version/),
  ]);
  // The probe's result is cached in the data dir.
  const accel: DoctorCheck = opts.dataDirUsable
    ? await checkAcceleration(paths)
    : { name: "acceleration", status: "warn", detail: "not checked: the data dir is not usable" };
  return [...tools, accel];
}

async function checkAcceleration(paths: DataPaths): Promise<DoctorCheck> {
  try {
    const caps = await new QemuBackend({ cacheDir: paths.vms }).capabilities();
    return caps.kvm
      ? { name: "acceleration", status: "ok", detail: "QEMU runs guests with KVM" }
      : {
          name: "acceleration",
          status: "warn",
          detail:
            "KVM is not usable here: QEMU uses TCG emulation (cold boots take seconds; restores stay fast)",
          fix: "use a host with working /dev/kvm for production, or force with MVM_QEMU_ACCEL=kvm",
        };
  } catch (e) {
    return { name: "acceleration", status: "warn", detail: `could not probe KVM: ${messageOf(e)}` };
  }
}
