// A minimal writer for the "newc" cpio format the kernel unpacks as an initramfs. Written here
// rather than with cpio(1) so the archive is byte-identical on every run: fixed inode numbers,
// mtimes, owners and entry order.

export type CpioEntry =
  | { name: string; kind: "dir"; mode: number }
  | { name: string; kind: "file"; mode: number; data: Uint8Array }
  | { name: string; kind: "symlink"; target: string }
  | { name: string; kind: "chardev"; mode: number; major: number; minor: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, "0");
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

function header(fields: {
  ino: number;
  mode: number;
  nlink: number;
  size: number;
  rmajor: number;
  rminor: number;
  nameSize: number;
}): string {
  return (
    "070701" +
    hex8(fields.ino) +
    hex8(fields.mode) +
    hex8(0) + // uid
    hex8(0) + // gid
    hex8(fields.nlink) +
    hex8(0) + // mtime
    hex8(fields.size) +
    hex8(0) + // devmajor
    hex8(0) + // devminor
    hex8(fields.rmajor) +
    hex8(fields.rminor) +
    hex8(fields.nameSize) +
    hex8(0) // check
  );
}

/** Entries are written sorted by name, so the caller's order does not matter. */
export function writeCpio(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  const sorted = [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let ino = 1;
  const push = (hdr: string, name: string, data: Uint8Array) => {
    const head = Buffer.from(hdr + name + "\0", "latin1");
    parts.push(head, Buffer.alloc(pad4(head.length)));
    parts.push(Buffer.from(data), Buffer.alloc(pad4(data.length)));
  };
  for (const e of sorted) {
    const nameBytes = Buffer.byteLength(e.name, "latin1") + 1;
    let mode: number;
    let data: Uint8Array = new Uint8Array(0);
    let rmajor = 0;
    let rminor = 0;
    if (e.kind === "dir") mode = S_IFDIR | e.mode;
    else if (e.kind === "file") {
      mode = S_IFREG | e.mode;
      data = e.data;
    } else if (e.kind === "symlink") {
      mode = S_IFLNK | 0o777;
      data = Buffer.from(e.target, "latin1");
    } else {
      mode = S_IFCHR | e.mode;
      rmajor = e.major;
      rminor = e.minor;
    }
    const nlink = e.kind === "dir" ? 2 : 1;
    push(
      header({ ino: ino++, mode, nlink, size: data.length, rmajor, rminor, nameSize: nameBytes }),
      e.name,
      data,
    );
  }
  push(
    header({ ino: 0, mode: 0, nlink: 1, size: 0, rmajor: 0, rminor: 0, nameSize: 11 }),
    "TRAILER!!!",
    new Uint8Array(0),
  );
  return Buffer.concat(parts);
}
