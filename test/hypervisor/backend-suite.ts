// The conformance suite every hypervisor backend module runs (QEMU for real, Firecracker against its
// wire-level fake): boot to ready and snapshot through `template build --snapshot`'s use case,
// reuse of an intact snapshot, restore, stop, the `exited` promise (for a stop and for an end from
// outside), the keeper's pid, the snapshot sizes `template bench` reports, and the check that
// decides whether a snapshot may be restored or reused. One cold boot per backend; everything else
// restores from the snapshot it made.

import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { SNAPSHOT_DIR } from "../../src/core/artifacts.js";
import { layoutFiles } from "../../src/core/snapshot.js";
import { pidAlive, processArgv } from "../../src/host/process.js";
import type { BackendModule, HypervisorBackend, VmConfig } from "../../src/hypervisor/backend.js";
import { KEEPER_SCRIPT } from "../../src/hypervisor/keeper/link.js";
import type { DataPaths } from "../../src/store/paths.js";
import type { TemplateStore } from "../../src/store/templates.js";
import { snapshotSizes } from "../../src/vm/bench.js";
import { checkRestorable } from "../../src/vm/restorable.js";
import { snapshotTemplate } from "../../src/vm/snapshot.js";
import { type StartedVm, startVm } from "../../src/vm/start.js";
import { loadTemplateImage } from "../../src/vm/template-image.js";
import { type TemplateImages, templateFromImages } from "../helpers/template.js";

export interface BackendUnderTest {
  module: BackendModule;
  backend: HypervisorBackend;
  paths: DataPaths;
  images: TemplateImages;
  vcpus: number;
  memMib: number;
  readyTimeoutMs: number;
  /** Taking a second snapshot is cheap (no real guest boots): the retake after damage is exercised too. */
  cheapBoots: boolean;
}

const TEMPLATE = "suite";

export function backendSuite(name: string, setup: () => Promise<BackendUnderTest>): void {
  describe(`backend ${name}: conformance`, () => {
    let t: BackendUnderTest;
    let store: TemplateStore;
    const started: StartedVm[] = [];

    const revisionDir = async () => (await loadTemplateImage(store, TEMPLATE)).current.dir;
    const snapshotDir = async () => join(await revisionDir(), SNAPSHOT_DIR);
    /** The config a VM of the template runs with, as a start without --cpus/--mem builds it. */
    const startConfig = async (): Promise<VmConfig> => {
      const img = await loadTemplateImage(store, TEMPLATE);
      return {
        name: "probe",
        dir: "/nonexistent",
        images: img.images,
        digests: img.digests,
        vcpus: img.spec.vcpus,
        memMib: img.spec.mem_mib,
        ports: [],
      };
    };
    const restore = async (vmName: string): Promise<StartedVm> => {
      const s = await startVm(store, t.paths, t.backend, {
        template: TEMPLATE,
        name: vmName,
        ports: [],
        readyTimeoutMs: t.readyTimeoutMs,
        noFallback: true,
      });
      started.push(s);
      return s;
    };

    before(async () => {
      t = await setup();
      store = await templateFromImages(t.paths, TEMPLATE, t.images, { vcpus: t.vcpus, memMib: t.memMib });
      // The one cold boot: boot, wait until ready, pause and save.
      const out = await snapshotTemplate(store, t.paths, t.backend, TEMPLATE, {
        readyTimeoutMs: t.readyTimeoutMs,
      });
      assert.equal(out.reused, false);
    });

    after(async () => {
      for (const s of started) await s.vm.stop({ graceMs: 0 }).catch(() => {});
    });

    test("the snapshot holds the module's layout, sized as recorded, with the fingerprint a start computes", async () => {
      const img = await loadTemplateImage(store, TEMPLATE);
      const snap = img.revision.snapshot;
      assert.ok(snap, "revision.json records the snapshot");
      assert.equal(snap.backend, t.module.name);
      const dir = await snapshotDir();
      for (const f of layoutFiles(t.module.snapshotLayout))
        assert.ok((await fs.stat(join(dir, f))).isFile(), `${f} is in the snapshot`);
      assert.equal((await fs.stat(join(dir, t.module.snapshotLayout.vmstate))).size, snap.vmstate_size_bytes);
      assert.equal((await fs.stat(join(dir, t.module.snapshotLayout.mem))).size, snap.mem_size_bytes);
      assert.deepEqual(snap.fingerprint, await t.backend.fingerprint(await startConfig()));
      assert.equal(await checkRestorable(img, t.backend, { config: await startConfig() }), undefined);
    });

    test("a second snapshot build reuses the intact snapshot", async () => {
      const again = await snapshotTemplate(store, t.paths, t.backend, TEMPLATE, {
        readyTimeoutMs: t.readyTimeoutMs,
      });
      assert.equal(again.reused, true);
    });

    test("bench reports the sizes of the layout's files", async () => {
      const dir = await snapshotDir();
      const sizes = await snapshotSizes(dir, t.backend);
      const layout = t.module.snapshotLayout;
      const disk = await fs.stat(join(dir, layout.disk));
      assert.ok(disk.size > 0);
      assert.equal(sizes.disk_bytes, disk.size);
      assert.equal(sizes.disk_allocated_bytes, disk.blocks * 512);
      assert.equal(sizes.mem_bytes, (await fs.stat(join(dir, layout.mem))).size);
      assert.equal(sizes.vmstate_bytes, (await fs.stat(join(dir, layout.vmstate))).size);
    });

    test("restore: ready, owned by a live keeper; stop ends it and `exited` resolves", async () => {
      const s = await restore("suite-stop");
      assert.equal(s.record.mode, "restore", s.record.cold_reason);
      assert.equal(s.vm.backend, t.module.name);
      assert.ok(s.vm.processAlive());
      const keeper = s.vm.keeperPid;
      assert.ok(keeper !== undefined && pidAlive(keeper), "the keeper runs");
      assert.ok(processArgv(keeper).includes(KEEPER_SCRIPT), "keeperPid is the keeper's");
      assert.equal(s.record.keeper_pid, keeper, "vm.json records the keeper");
      let ended = false;
      void s.vm.exited.then(() => {
        ended = true;
      });
      await new Promise((r) => setImmediate(r));
      assert.equal(ended, false, "exited is pending while the VM runs");
      await s.vm.stop({ graceMs: 500 });
      await s.vm.exited;
      assert.equal(s.vm.processAlive(), false);
      assert.equal(await s.vm.state(), "stopped");
    });

    test("a VM that ends from outside (killed hypervisor): `exited` resolves", async () => {
      const s = await restore("suite-killed");
      assert.equal(s.record.mode, "restore", s.record.cold_reason);
      process.kill(s.vm.pid, "SIGKILL");
      await s.vm.exited;
      assert.equal(s.vm.processAlive(), false);
    });

    test("a snapshot missing its disk file is neither restored nor reused", async () => {
      const dir = await snapshotDir();
      const disk = join(dir, t.module.snapshotLayout.disk);
      const aside = `${disk}.aside`;
      await fs.rename(disk, aside);
      try {
        const img = await loadTemplateImage(store, TEMPLATE);
        const why = await checkRestorable(img, t.backend, { config: await startConfig() });
        assert.equal(why?.kind, "damaged");
        assert.match(
          why?.reason ?? "",
          new RegExp(`${SNAPSHOT_DIR}/${t.module.snapshotLayout.disk} is missing`),
        );
        if (t.cheapBoots) {
          const retaken = await snapshotTemplate(store, t.paths, t.backend, TEMPLATE, {
            readyTimeoutMs: t.readyTimeoutMs,
          });
          assert.equal(retaken.reused, false, "the damaged snapshot is taken again");
          assert.ok((await fs.stat(disk)).isFile());
        }
      } finally {
        await fs.rename(aside, disk).catch(() => {});
      }
    });
  });
}
