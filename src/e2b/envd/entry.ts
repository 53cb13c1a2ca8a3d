import { posix } from "node:path";
import type { GuestStat } from "../../guest/files.js";
import type { GuestAccounts } from "./users.js";

// filesystem.EntryInfo in the proto3 JSON mapping: lowerCamelCase names, enums by name, int64 as a
// string, Timestamp as RFC 3339. `mode` carries the type bits as Go's os.FileMode does, and
// `permissions` is its string form ("drwxr-xr-x").

export type FileTypeName =
  | "FILE_TYPE_FILE"
  | "FILE_TYPE_DIRECTORY"
  | "FILE_TYPE_SYMLINK"
  | "FILE_TYPE_UNSPECIFIED";

export interface EntryInfo {
  name: string;
  type: FileTypeName;
  path: string;
  size: string;
  mode: number;
  permissions: string;
  owner: string;
  group: string;
  modifiedTime: string;
  symlinkTarget?: string;
}

const GO_DIR = 0x80000000;
const GO_SYMLINK = 0x08000000;

function fileType(kind: GuestStat["kind"]): FileTypeName {
  if (kind === "file") return "FILE_TYPE_FILE";
  if (kind === "dir") return "FILE_TYPE_DIRECTORY";
  if (kind === "symlink") return "FILE_TYPE_SYMLINK";
  return "FILE_TYPE_UNSPECIFIED";
}

function permissionString(kind: GuestStat["kind"], mode: number): string {
  const bits = "rwxrwxrwx";
  let s = kind === "dir" ? "d" : kind === "symlink" ? "L" : "-";
  for (let i = 0; i < 9; i++) s += mode & (1 << (8 - i)) ? bits[i] : "-";
  return s;
}

export function entryInfo(path: string, st: GuestStat, accounts: GuestAccounts): EntryInfo {
  const perm = st.mode & 0o777;
  const typeBits = st.kind === "dir" ? GO_DIR : st.kind === "symlink" ? GO_SYMLINK : 0;
  return {
    name: path === "/" ? "/" : posix.basename(path),
    type: fileType(st.kind),
    path,
    size: String(st.size),
    mode: (typeBits | perm) >>> 0,
    permissions: permissionString(st.kind, perm),
    owner: accounts.userNames.get(st.uid) ?? String(st.uid),
    group: accounts.groupNames.get(st.gid) ?? String(st.gid),
    modifiedTime: new Date(st.mtime_ms).toISOString(),
    ...(typeof st.target === "string" ? { symlinkTarget: st.target } : {}),
  };
}
