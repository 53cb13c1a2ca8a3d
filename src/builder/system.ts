import { MvmError } from "../core/errors.js";

/** The Nix system of this host: templates are built for the machine that runs them. */
export function hostSystem(arch: string = process.arch): "x86_64-linux" | "aarch64-linux" {
  if (process.platform !== "linux")
    throw new MvmError("unsupported", `mvmctl builds templates on Linux only (this is ${process.platform})`);
  if (arch === "x64") return "x86_64-linux";
  if (arch === "arm64") return "aarch64-linux";
  throw new MvmError("unsupported", `no microVM template support for the ${arch} architecture`);
}
