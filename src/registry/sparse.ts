import { createHash, type Hash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { MvmError } from "../core/errors.js";

// The "sparse1" transfer encoding: mostly-zero files (rootfs images, guest memory) travel as their
// non-zero extents only and are written back with holes, so a 2 GiB image holding 50 MiB of data moves
// about 50 MiB and occupies about 50 MiB after a pull. Checksums are always over the decoded bytes.
//
//   header  : "MVMSPAR1" (8 bytes) | logical size (u64 BE)
//   extent  : offset (u64 BE) | length (u32 BE) | length bytes of data      (repeated, offsets increasing)
//   trailer : offset = logical size (u64 BE) | length 0 (u32 BE)
//
// Zero detection works on BLOCK-sized blocks; runs of non-zero blocks are coalesced up to the read size.

export const SPARSE_ENCODING = "sparse1";
const MAGIC = Buffer.from("MVMSPAR1", "latin1");
const BLOCK = 64 * 1024;
const READ_SIZE = 4 << 20;
const ZERO_BLOCK = Buffer.alloc(BLOCK);
const EMPTY = Buffer.alloc(0);
const HEADER_BYTES = 16;
const EXTENT_HEADER_BYTES = 12;
/** Decoded extents are never larger than this: a hostile stream cannot make us buffer more. */
const MAX_EXTENT = 16 << 20;

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

function extentHeader(offset: number, length: number): Buffer {
  const b = Buffer.alloc(EXTENT_HEADER_BYTES);
  b.writeBigUInt64BE(BigInt(offset), 0);
  b.writeUInt32BE(length, 8);
  return b;
}

export interface RawDigest {
  sha256: string;
  size: number;
}

/**
 * Reads a file front to back with one read always in flight: three buffers take turns and the next
 * read is issued before the current chunk is handed out, so disk reads overlap hashing and sending.
 * A chunk stays valid until two more chunks have been requested (a consumer may keep one write in
 * flight while it asks for the next chunk).
 */
async function* readAhead(fh: FileHandle, size: number): AsyncGenerator<Buffer> {
  const bufs = [Buffer.allocUnsafe(READ_SIZE), Buffer.allocUnsafe(READ_SIZE), Buffer.allocUnsafe(READ_SIZE)];
  let pos = 0;
  let turn = 0;
  const readAt = (at: number) => fh.read(bufs[turn]!, 0, Math.min(READ_SIZE, size - at), at);
  let pending = pos < size ? readAt(pos) : undefined;
  while (pending) {
    const { bytesRead, buffer } = await pending;
    if (bytesRead === 0) throw new MvmError("internal", "file shrank while it was being read");
    pos += bytesRead;
    turn = (turn + 1) % bufs.length;
    pending = pos < size ? readAt(pos) : undefined;
    yield buffer.subarray(0, bytesRead);
  }
}

/**
 * Reads `fh` from the start and yields its sparse1 encoding, hashing the raw bytes on the way (unless
 * `knownSha256` is the file's digest already, proven current by digest-cache.ts). `done` is filled in
 * once the generator has finished. Chunks are views of reused read buffers:
 * each is valid until two more have been requested (consumers copy what they keep longer), which keeps
 * memory constant instead of leaving a trail of garbage buffers for the GC.
 */
export async function* encodeSparse(
  fh: FileHandle,
  done: Partial<RawDigest>,
  knownSha256?: string,
): AsyncGenerator<Buffer> {
  const size = (await fh.stat()).size;
  const hash = knownSha256 === undefined ? createHash("sha256") : undefined;
  yield Buffer.concat([MAGIC, u64(size)]);
  let pos = 0;
  for await (const chunk of readAhead(fh, size)) {
    const bytesRead = chunk.length;
    hash?.update(chunk);
    let runStart = -1;
    let yielded = false;
    for (let off = 0; off < bytesRead; off += BLOCK) {
      const block = chunk.subarray(off, Math.min(off + BLOCK, bytesRead));
      const zero = block.equals(block.length === BLOCK ? ZERO_BLOCK : ZERO_BLOCK.subarray(0, block.length));
      if (!zero && runStart < 0) runStart = off;
      if (zero && runStart >= 0) {
        yield extentHeader(pos + runStart, off - runStart);
        yield chunk.subarray(runStart, off);
        yielded = true;
        runStart = -1;
      }
    }
    if (runStart >= 0) {
      yield extentHeader(pos + runStart, bytesRead - runStart);
      yield chunk.subarray(runStart, bytesRead);
      yielded = true;
    }
    // A read chunk with nothing to send still hands out an empty piece: reading on past a run of zeros
    // without one would refill the buffer of the last data piece while the consumer still holds it.
    if (!yielded) yield EMPTY;
    pos += bytesRead;
  }
  yield extentHeader(size, 0);
  done.sha256 = hash ? hash.digest("hex") : knownSha256;
  done.size = size;
}

/** Yields a file's bytes unchanged (the "identity" encoding), hashing them; chunks as above. */
export async function* encodeIdentity(
  fh: FileHandle,
  done: Partial<RawDigest>,
  knownSha256?: string,
): AsyncGenerator<Buffer> {
  const size = (await fh.stat()).size;
  const hash = knownSha256 === undefined ? createHash("sha256") : undefined;
  let pos = 0;
  for await (const chunk of readAhead(fh, size)) {
    hash?.update(chunk);
    pos += chunk.length;
    yield chunk;
  }
  done.sha256 = hash ? hash.digest("hex") : knownSha256;
  done.size = pos;
}

/** Zeros hashed between two turns of the event loop: timers, signals and I/O keep running. */
const ZERO_SLICE = 32 << 20;
const ZERO_SLICE_BUFFER = Buffer.alloc(1 << 20);

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Hashes a run of `n` zeros in slices, yielding to the event loop after each one, so that a long run
 * (a mostly empty disk image, or a stream that claims a huge size) never blocks timers or signals and
 * stops as soon as `signal` is aborted.
 */
async function feedZeros(hash: Hash, n: number, signal: AbortSignal | undefined): Promise<void> {
  let inSlice = 0;
  while (n > 0) {
    const k = Math.min(n, ZERO_SLICE_BUFFER.length);
    hash.update(k === ZERO_SLICE_BUFFER.length ? ZERO_SLICE_BUFFER : ZERO_SLICE_BUFFER.subarray(0, k));
    n -= k;
    inSlice += k;
    if (inSlice >= ZERO_SLICE && n > 0) {
      inSlice = 0;
      await nextTurn();
      if (signal?.aborted) throw aborted(signal);
    }
  }
}

function aborted(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new MvmError("timeout", "decoding was interrupted");
}

function corrupt(why: string): MvmError {
  return new MvmError("integrity", `sparse stream is corrupt: ${why}`);
}

/**
 * Decodes a sparse1 stream into `fh` (an empty file), leaving holes for zeros, and returns the SHA-256
 * and size of the decoded bytes. Every field of the stream is checked before it is used; the decoded
 * size must be `expectedSize` (callers bound it before they start), and `signal` stops the decoding.
 */
export async function decodeSparse(
  source: AsyncIterable<Uint8Array>,
  fh: FileHandle,
  expectedSize?: number,
  opts: { signal?: AbortSignal } = {},
): Promise<RawDigest> {
  const hash = createHash("sha256");
  let pending: Buffer = Buffer.alloc(0);
  let logical = -1;
  let cursor = 0; // decoded bytes hashed so far
  let extentLeft = 0; // bytes of the current extent still to come
  let finished = false;

  const take = async (): Promise<void> => {
    for (;;) {
      if (finished) {
        if (pending.length > 0) throw corrupt("data after the trailer");
        return;
      }
      if (logical < 0) {
        if (pending.length < HEADER_BYTES) return;
        if (!pending.subarray(0, 8).equals(MAGIC)) throw corrupt("bad magic");
        const size = pending.readBigUInt64BE(8);
        if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt("size out of range");
        logical = Number(size);
        if (expectedSize !== undefined && logical !== expectedSize)
          throw corrupt(`it decodes to ${logical} bytes, the index says ${expectedSize}`);
        pending = pending.subarray(HEADER_BYTES);
        continue;
      }
      if (extentLeft > 0) {
        if (pending.length === 0) return;
        const n = Math.min(extentLeft, pending.length);
        const data = pending.subarray(0, n);
        hash.update(data);
        let written = 0;
        while (written < n) {
          const { bytesWritten } = await fh.write(data, written, n - written, cursor + written);
          written += bytesWritten;
        }
        cursor += n;
        extentLeft -= n;
        pending = pending.subarray(n);
        continue;
      }
      if (pending.length < EXTENT_HEADER_BYTES) return;
      const offBig = pending.readBigUInt64BE(0);
      const length = pending.readUInt32BE(8);
      pending = pending.subarray(EXTENT_HEADER_BYTES);
      if (offBig > BigInt(logical)) throw corrupt("extent beyond the end");
      const offset = Number(offBig);
      if (offset < cursor) throw corrupt("extents overlap or go backwards");
      if (length > MAX_EXTENT || offset + length > logical) throw corrupt("extent too long");
      await feedZeros(hash, offset - cursor, opts.signal);
      cursor = offset;
      if (length === 0) {
        if (offset !== logical) throw corrupt("early trailer");
        finished = true;
        continue;
      }
      extentLeft = length;
    }
  };

  for await (const chunk of source) {
    if (opts.signal?.aborted) throw aborted(opts.signal);
    const view = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength); // no copy
    pending = pending.length === 0 ? view : Buffer.concat([pending, view]);
    await take();
  }
  if (!finished) throw corrupt("stream ended early");
  await fh.truncate(logical);
  return { sha256: hash.digest("hex"), size: logical };
}

/** Writes a plain stream into `fh` and returns its SHA-256 and size. */
export async function decodeIdentity(source: AsyncIterable<Uint8Array>, fh: FileHandle): Promise<RawDigest> {
  const hash = createHash("sha256");
  let pos = 0;
  for await (const chunk of source) {
    hash.update(chunk);
    let written = 0;
    while (written < chunk.length) {
      const { bytesWritten } = await fh.write(chunk, written, chunk.length - written, pos + written);
      written += bytesWritten;
    }
    pos += chunk.length;
  }
  return { sha256: hash.digest("hex"), size: pos };
}
