import { isAbsolute, relative, resolve } from "node:path";
import { messageOf } from "../core/errors.js";
import type { DataPaths } from "../store/paths.js";
import type { DoctorCheck } from "./check.js";

// Checks that need mvmctl's own modules: loaded lazily so that `doctor` on a broken host still starts.

export async function checkKit(paths: DataPaths): Promise<DoctorCheck> {
  const { currentKit } = await import("../kit/index.js");
  const kit = await currentKit(paths);
  if (!kit)
    return {
      name: "guest kit",
      status: "warn",
      detail: "not built, or built by an older mvmctl (offline templates build it on first use)",
      fix: "mvmctl kit build",
    };
  return {
    name: "guest kit",
    status: "ok",
    detail: `${kit.hash} (kernel ${kit.manifest.kernel.version})`,
  };
}

/** True when the registry in use is the default file registry (or another one) under the data dir. */
export async function registryIsInDataDir(paths: DataPaths): Promise<boolean> {
  const { resolveRegistry } = await import("../registry/location.js");
  try {
    const loc = resolveRegistry(undefined, paths.registry);
    if (loc.kind !== "file") return false;
    const rel = relative(resolve(paths.root), resolve(loc.root));
    return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
  } catch {
    return false;
  }
}

export async function checkRegistry(paths: DataPaths): Promise<DoctorCheck> {
  const { resolveRegistry, describeLocation } = await import("../registry/location.js");
  const { openTransport } = await import("../registry/open.js");
  let display = "registry";
  try {
    const loc = resolveRegistry(undefined, paths.registry);
    display = describeLocation(loc);
    const t = await openTransport(loc);
    try {
      const templates = await t.list();
      return {
        name: "registry",
        status: "ok",
        detail: `${display}: reachable, ${templates.length} template(s)`,
      };
    } finally {
      await t.close();
    }
  } catch (e) {
    return {
      name: "registry",
      status: "fail",
      detail: `${display}: ${messageOf(e)}`,
      fix: "check MVM_TEMPLATE_REGISTRY and its credentials (MVM_OCI_USERNAME/PASSWORD, AWS_* or MVM_TEMPLATE_REGISTRY_*)",
    };
  }
}
