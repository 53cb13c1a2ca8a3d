import { gunzipSync } from "node:zlib";
import { MvmError } from "../core/errors.js";
import { runProgram } from "../host/process.js";

// Firecracker (x86_64) boots only an uncompressed ELF vmlinux, and Debian ships bzImages. A bzImage
// carries the ELF compressed after its setup code; the boot protocol header says where
// (payload_offset / payload_length), and the kernel build appends the uncompressed size.

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

export function bzImagePayload(image: Buffer): Buffer {
  if (image.length < 0x250 || image.subarray(0x202, 0x206).toString("latin1") !== "HdrS")
    throw new MvmError("unsupported", "not a bzImage (no HdrS boot header)");
  const setupSects = image[0x1f1] || 4;
  const start = (setupSects + 1) * 512 + image.readUInt32LE(0x248);
  const length = image.readUInt32LE(0x24c);
  if (start + length > image.length)
    throw new MvmError("corrupt", "bzImage payload runs past the end of the file");
  return image.subarray(start, start + length);
}

/** LZ4 block format: literal runs and back-references, as written by the kernel's lz4 -l. */
export function lz4Block(src: Buffer, out: Buffer, outPos: number): number {
  let i = 0;
  let o = outPos;
  while (i < src.length) {
    const token = src[i++]!;
    let lit = token >> 4;
    if (lit === 15) {
      let b: number;
      do {
        b = src[i++]!;
        lit += b;
      } while (b === 255);
    }
    src.copy(out, o, i, i + lit);
    i += lit;
    o += lit;
    if (i >= src.length) break; // the last sequence has literals only
    const offset = src[i]! | (src[i + 1]! << 8);
    i += 2;
    if (offset === 0 || offset > o) throw new MvmError("corrupt", "bad LZ4 match offset");
    let len = (token & 15) + 4;
    if ((token & 15) === 15) {
      let b: number;
      do {
        b = src[i++]!;
        len += b;
      } while (b === 255);
    }
    for (let k = 0; k < len; k++, o++) out[o] = out[o - offset]!; // overlapping copies repeat bytes
  }
  return o;
}

/** The legacy LZ4 frame (magic 0x184C2102): blocks of [u32 size][block] until the data ends. */
export function lz4Legacy(data: Buffer, size: number): Buffer {
  if (data.readUInt32LE(0) !== 0x184c2102) throw new MvmError("corrupt", "not a legacy LZ4 stream");
  const out = Buffer.alloc(size + 8 * 1024 * 1024);
  let i = 4;
  let o = 0;
  while (i + 4 <= data.length && o < size) {
    const n = data.readUInt32LE(i);
    if (n === 0x184c2102) {
      i += 4; // concatenated frames
      continue;
    }
    i += 4;
    if (i + n > data.length) break;
    o = lz4Block(data.subarray(i, i + n), out, o);
    i += n;
  }
  return out.subarray(0, o);
}

async function viaTool(tool: string, pkg: string, data: Buffer): Promise<Buffer> {
  const { mkdtemp, rm, writeFile } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = await mkdtemp(join(tmpdir(), "mvm-vmlinux-"));
  try {
    await writeFile(join(dir, "payload"), data);
    const r = await runProgram(tool, ["-dc", join(dir, "payload")], {
      missing: () =>
        new MvmError("not_found", `${tool} is needed to unpack the kernel`, {
          hint: `apt-get install -y ${pkg}`,
        }),
    });
    // The kernel appends its size after the stream, which the tools may report as trailing garbage.
    if (r.stdoutBytes.length === 0)
      throw new MvmError("external", `${tool} could not unpack the kernel: ${r.stderr.trim()}`);
    return r.stdoutBytes;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Extracts the uncompressed ELF vmlinux from a bzImage. */
export async function extractVmlinux(image: Buffer): Promise<Buffer> {
  const payload = bzImagePayload(image);
  const size = payload.readUInt32LE(payload.length - 4);
  let elf: Buffer;
  if (payload[0] === 0x1f && payload[1] === 0x8b) elf = gunzipSync(payload.subarray(0, payload.length - 4));
  else if (payload.readUInt32LE(0) === 0x184c2102)
    elf = lz4Legacy(payload.subarray(0, payload.length - 4), size);
  else if (payload.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])))
    elf = await viaTool("xz", "xz-utils", payload);
  else if (payload.readUInt32LE(0) === 0xfd2fb528) elf = await viaTool("zstd", "zstd", payload);
  else throw new MvmError("unsupported", "the bzImage payload uses a compression mvmctl cannot unpack");
  if (!elf.subarray(0, 4).equals(ELF_MAGIC))
    throw new MvmError("corrupt", "the unpacked kernel is not an ELF file");
  if (elf.length !== size)
    throw new MvmError("corrupt", `unpacked ${elf.length} bytes, the kernel says ${size}`);
  return elf;
}
