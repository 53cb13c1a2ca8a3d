import { constants, promises as fs } from "node:fs";
import { messageOf } from "../core/errors.js";
import { formatBytes } from "../core/sizes.js";
import { dataDirOrigin, ensureDataDir } from "../host/data-dir.js";
import { missingTool, versionDetail } from "../host/tool-checks.js";
import { lookupTool, toolLabel } from "../host/tools.js";
import type { DataPaths } from "../store/paths.js";
import { type DoctorCheck, firstLine, probe } from "./check.js";

const NIX_FLAGS = [
  "--extra-experimental-features",
  "nix-command flakes",
  "--option",
  "build-users-group",
  "",
];

export async function checkNix(): Promise<DoctorCheck[]> {
  const nix = lookupTool("nix");
  if (!nix.path) return [missingTool("nix", nix)];
  const v = await probe(nix.path, ["--version"]);
  if (!v.ok)
    return [
      {
        name: "nix",
        status: "fail",
        detail: `${toolLabel(nix)} --version failed: ${firstLine(v.stderr) || `exit status ${v.code}`}`,
        fix: nix.install,
      },
    ];
  const flakes = await probe(nix.path, [...NIX_FLAGS, "eval", "--raw", "--expr", '"ok"'], 30_000);
  return [
    { name: "nix", status: "ok", detail: versionDetail(nix, v.stdout) },
    flakes.ok && flakes.stdout === "ok"
      ? { name: "nix flakes", status: "ok", detail: "nix-command and flakes evaluate" }
      : {
          name: "nix flakes",
          status: "fail",
          detail: `evaluation with flakes enabled failed: ${firstLine(flakes.stderr)}`,
          fix: "check /etc/nix/nix.conf; run as root or configure build users",
        },
  ];
}

export async function checkKvm(): Promise<DoctorCheck> {
  try {
    await fs.access("/dev/kvm", constants.R_OK | constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return {
      name: "/dev/kvm",
      status: "warn",
      detail:
        code === "ENOENT"
          ? "no /dev/kvm: VMs run under TCG emulation (slow boots)"
          : "/dev/kvm is not accessible",
      fix:
        code === "ENOENT"
          ? "enable virtualisation in the BIOS or the host"
          : "add your user to the kvm group",
    };
  }
  return { name: "/dev/kvm", status: "ok", detail: "present and read/write" };
}

export async function checkDataDir(paths: DataPaths): Promise<DoctorCheck[]> {
  const out: DoctorCheck[] = [];
  try {
    await ensureDataDir(paths.root, dataDirOrigin());
    out.push({ name: "data dir", status: "ok", detail: `${paths.root} is writable` });
  } catch (e) {
    out.push({
      name: "data dir",
      status: "fail",
      detail: messageOf(e),
      fix: "point MVM_DATA_DIR at a directory you can write to (mkdir -p DIR), or unset it to use $HOME/.mvm",
    });
    return out;
  }
  const st = await fs.statfs(paths.root);
  const free = st.bavail * st.bsize;
  const detail = `${formatBytes(free)} free`;
  if (free < 1024 ** 3)
    out.push({ name: "disk space", status: "fail", detail, fix: "free disk space or set MVM_DATA_DIR" });
  else if (free < 10 * 1024 ** 3)
    out.push({
      name: "disk space",
      status: "warn",
      detail: `${detail} (templates with snapshots take GiBs)`,
      fix: "mvmctl template prune NAME",
    });
  else out.push({ name: "disk space", status: "ok", detail });
  return out;
}
