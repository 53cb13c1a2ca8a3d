import { arch, cpus, totalmem } from "node:os";
import type { RecordedFingerprint, SnapshotFingerprint } from "../core/snapshot.js";
import type { HypervisorBackend } from "../hypervisor/backend.js";
import { selectBackend } from "../hypervisor/index.js";
import { loadTemplateImage } from "../vm/template-image.js";
import type { VmService } from "./vm-service.js";

// GET /v1/host: what a scheduler placing sandboxes across hosts needs from this one — capacity and
// what is used of it, the VMs running, and the host part of the snapshot fingerprint (hypervisor,
// its version, machine, acceleration, CPU model): a template's snapshot restores here only if the
// same fields of its `snapshot_fingerprint` are equal.

/** Fingerprint fields that describe the template (its images and sizing), not the host. */
const TEMPLATE_FIELDS = new Set([
  "vcpus",
  "mem_mib",
  "kernel_sha256",
  "initrd_sha256",
  "rootfs_sha256",
  "boot_args",
  "drives",
]);

export function hostPart(fp: SnapshotFingerprint): RecordedFingerprint {
  return Object.fromEntries(Object.entries(fp).filter(([k]) => !TEMPLATE_FIELDS.has(k)));
}

/**
 * The host fingerprint, computed the way a restore computes it, with the images of a template that
 * is ready here (a backend may probe acceleration with a real kernel); null while none is.
 */
async function hostFingerprint(
  vms: VmService,
  backend: HypervisorBackend,
): Promise<RecordedFingerprint | null> {
  const { templates } = await vms.store.list();
  for (const name of templates) {
    const img = await loadTemplateImage(vms.store, name).catch(() => undefined);
    if (!img) continue;
    const fp = await backend.fingerprint({
      name: "host-probe",
      dir: vms.paths.vms,
      images: img.images,
      digests: img.digests,
      vcpus: 1,
      memMib: 128,
      ports: [],
    });
    return hostPart(fp);
  }
  return null;
}

export async function hostInfo(vms: VmService): Promise<Record<string, unknown>> {
  const backend = await selectBackend(vms.opts.hypervisor, vms.paths);
  const used = await vms.usage();
  const { maxVms, maxMemMib } = vms.opts.limits;
  const running = await vms.list({});
  return {
    backend: backend.name,
    hypervisor_version: await backend.version(),
    arch: arch(),
    cpu_model: cpus()[0]?.model ?? null,
    cpus: cpus().length,
    mem_total_mib: Math.floor(totalmem() / 1048576),
    capacity: { max_vms: maxVms, max_mem_mib: maxMemMib },
    used,
    free: { vms: Math.max(0, maxVms - used.vms), mem_mib: Math.max(0, maxMemMib - used.mem_mib) },
    vms: running.map((v) => v.name),
    running: running.map((v) => ({
      name: v.name,
      template: v.template,
      state: v.state,
      cpus: v.cpus,
      mem_mib: v.mem_mib,
      labels: v.labels,
    })),
    snapshot_fingerprint: await hostFingerprint(vms, backend),
  };
}
