import { execFile } from "node:child_process";
import { promises as fs } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { MvmError } from "../core/errors.js";
import { isLocalFlakePath, splitFlakeAttr } from "../core/flake-ref.js";

// Turns a template's stored flake_ref into what nix is given. A local directory inside a git work tree is
// passed as a path (nix then sees only git-tracked files, as users of flakes expect); a directory outside
// git — or one whose flake.nix git does not track — is passed as `path:<dir>` (nix then sees every file).

export interface FlakeSource {
  /** The flake reference handed to nix, without `#attr`. */
  ref: string;
  /** An attribute given in the stored ref (`…#attr`): it overrides the profile's attribute. */
  explicitAttr: string | undefined;
  /** The flake's directory when it is on this machine. */
  localDir: string | undefined;
  /** The git work tree that holds localDir, when there is one and nix reads the flake through git. */
  gitRoot: string | undefined;
  warnings: string[];
}

// nix 2.8 does not decode %-escapes in path: URLs and refuses spaces, so only plain paths can be passed.
export const NIX_SAFE_PATH = /^\/[A-Za-z0-9._+~@=,/-]*$/;

async function isDir(p: string): Promise<boolean> {
  return fs.stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

async function findGitRoot(dir: string): Promise<string | undefined> {
  for (let d = dir; ; d = dirname(d)) {
    if (
      await fs.lstat(join(d, ".git")).then(
        () => true,
        () => false,
      )
    )
      return d;
    if (dirname(d) === d) return undefined;
  }
}

/** True when git tracks (or has staged) `file`; false when it is untracked or git is not installed. */
function gitTracks(root: string, file: string): Promise<boolean> {
  return new Promise((res) => {
    execFile("git", ["-C", root, "ls-files", "--error-unmatch", "--", file], (err) => res(!err));
  });
}

/** The directory of a `path:` ref (`path:/abs/dir?query`), relative ones resolved against `cwd`. */
function pathRefDir(ref: string, cwd: string): string {
  const p = ref.slice("path:".length).split("?")[0]!;
  return isAbsolute(p) ? p : resolve(cwd, p);
}

export async function resolveFlakeSource(flakeRef: string, cwd = process.cwd()): Promise<FlakeSource> {
  const { ref, attr } = splitFlakeAttr(flakeRef);
  const warnings: string[] = [];
  const base = { explicitAttr: attr || undefined, warnings };
  if (!isLocalFlakePath(ref) && !ref.startsWith("path:"))
    return { ...base, ref, localDir: undefined, gitRoot: undefined };
  const dir = ref.startsWith("path:") ? pathRefDir(ref, cwd) : resolve(cwd, ref);
  if (!(await isDir(dir)))
    throw new MvmError("not_found", `flake directory ${dir} does not exist`, {
      hint: "Point the template at an existing flake with 'mvmctl template edit <name> --flake DIR'.",
    });
  if (!(await fs.stat(join(dir, "flake.nix")).catch(() => undefined)))
    throw new MvmError("not_found", `${dir} has no flake.nix`, {
      hint: "Scaffold one with 'mvmctl template init <name> --local --dir DIR'.",
    });
  if (!NIX_SAFE_PATH.test(dir))
    throw new MvmError(
      "unsupported",
      `nix cannot build a flake whose path contains spaces or symbols: ${dir}`,
      {
        hint: "Move the flake to a directory whose path has only letters, digits and . _ + ~ @ = , - /",
      },
    );
  if (ref.startsWith("path:")) return { ...base, ref: `path:${dir}`, localDir: dir, gitRoot: undefined };
  const gitRoot = await findGitRoot(dir);
  if (gitRoot) {
    const rel = dir === gitRoot ? "flake.nix" : join(dir.slice(gitRoot.length + 1), "flake.nix");
    if (await gitTracks(gitRoot, rel)) return { ...base, ref: dir, localDir: dir, gitRoot };
    warnings.push(
      `${join(dir, "flake.nix")} is not tracked by git, so nix would not see it inside ${gitRoot}; building path:${dir} instead (every file, tracked or not). Run 'git add flake.nix' to build only tracked files.`,
    );
  }
  return { ...base, ref: `path:${dir}`, localDir: dir, gitRoot: undefined };
}
