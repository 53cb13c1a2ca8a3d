// The backend conformance suite on Firecracker, against the wire-level fake (a real process serving
// Firecracker's documented API and a fake guest agent).

import { accessSync, constants, rmSync } from "node:fs";
import { after, describe } from "node:test";
import { firecrackerModule } from "../../../src/hypervisor/firecracker/module.js";
import { backendSuite } from "../backend-suite.js";
import { fixture } from "./helpers.js";

// The backend refuses to run without a readable and writable /dev/kvm, fake or not.
function kvmAccessible(): boolean {
  try {
    accessSync("/dev/kvm", constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

if (kvmAccessible()) {
  const fx = fixture();
  after(() => rmSync(fx.root, { recursive: true, force: true }));
  backendSuite("firecracker", async () => ({
    module: firecrackerModule,
    backend: fx.backend(),
    paths: fx.paths,
    images: { kernel: fx.kernel, rootfs: fx.rootfs },
    vcpus: 1,
    memMib: 128,
    readyTimeoutMs: 60_000,
    cheapBoots: true,
  }));
} else
  describe("backend firecracker: conformance", { skip: "needs a readable and writable /dev/kvm" }, () => {});
