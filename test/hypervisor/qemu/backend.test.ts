// The backend conformance suite on QEMU for real (TCG here), with the cached example guest image:
// one cold boot, the rest restores from its snapshot.

import { rmSync } from "node:fs";
import { join } from "node:path";
import { after } from "node:test";
import { QemuBackend } from "../../../src/hypervisor/qemu/backend.js";
import { qemuModule } from "../../../src/hypervisor/qemu/module.js";
import { DataPaths } from "../../../src/store/paths.js";
import { tempDir } from "../../helpers/cli.js";
import { buildExampleImage } from "../../helpers/fixtures.js";
import { backendSuite } from "../backend-suite.js";

const root = tempDir("mvm-qemu-suite-");
after(() => rmSync(root, { recursive: true, force: true }));

backendSuite("qemu", async () => {
  const image = await buildExampleImage("minimal");
  const paths = new DataPaths(join(root, "data"));
  return {
    module: qemuModule,
    backend: new QemuBackend({ cacheDir: paths.vms }),
    paths,
    images: { kernel: image.kernel, initrd: image.initrd, rootfs: image.rootfs },
    vcpus: 1,
    memMib: 256,
    // A loaded 2-core machine under TCG.
    readyTimeoutMs: 600_000,
    cheapBoots: false,
  };
});
