import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { decodeSparse, encodeSparse, type RawDigest } from "../../src/registry/sparse.js";
import { tempDir } from "../helpers/cli.js";

// The sparse1 transfer encoding: exact round trips (holes come back as holes) and refusal of every
// malformed stream a hostile registry could send.

async function encode(bytes: Buffer): Promise<{ stream: Buffer; raw: RawDigest }> {
  const dir = tempDir("mvm-sparse-");
  await fs.writeFile(join(dir, "in"), bytes);
  const fh = await fs.open(join(dir, "in"));
  const done: Partial<RawDigest> = {};
  const parts: Buffer[] = [];
  for await (const c of encodeSparse(fh, done)) parts.push(Buffer.from(c)); // chunks are reused: copy
  await fh.close();
  return { stream: Buffer.concat(parts), raw: done as RawDigest };
}

async function decode(
  stream: Buffer,
  chunk = 7919,
  expected?: number,
): Promise<{ out: Buffer; raw: RawDigest }> {
  const dir = tempDir("mvm-sparse-");
  const fh = await fs.open(join(dir, "out"), "w+");
  try {
    const pieces = (async function* () {
      for (let i = 0; i < stream.length; i += chunk) yield stream.subarray(i, i + chunk);
    })();
    const raw = await decodeSparse(pieces, fh, expected);
    return { out: await fs.readFile(join(dir, "out")), raw };
  } finally {
    await fh.close();
  }
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

function patterned(size: number, spans: [number, number][]): Buffer {
  const b = Buffer.alloc(size);
  for (const [at, len] of spans) randomBytes(len).copy(b, at);
  return b;
}

describe("sparse1 encoding", () => {
  const cases: [string, Buffer][] = [
    ["empty", Buffer.alloc(0)],
    ["one byte", Buffer.from([7])],
    ["all zeros", Buffer.alloc(3 << 20)],
    ["dense", randomBytes(5 << 20)],
    [
      "data at both ends, unaligned size",
      patterned((9 << 20) + 123, [
        [0, 10],
        [(9 << 20) + 100, 23],
      ]),
    ],
    [
      "extents across read boundaries",
      patterned(12 << 20, [
        [(4 << 20) - 5, 70_000],
        [(8 << 20) - 65_536, 131_072],
      ]),
    ],
  ];
  for (const [name, bytes] of cases)
    test(`round trip: ${name}`, async () => {
      const { stream, raw } = await encode(bytes);
      assert.equal(raw.sha256, sha(bytes));
      assert.equal(raw.size, bytes.length);
      const back = await decode(stream, 4093, bytes.length);
      assert.ok(back.out.equals(bytes));
      assert.equal(back.raw.sha256, sha(bytes));
    });

  test("zeros do not travel: 32 MiB holding 1 MiB of data encodes to about 1 MiB", async () => {
    const bytes = patterned(32 << 20, [[5 << 20, 1 << 20]]);
    const { stream } = await encode(bytes);
    assert.ok(stream.length < (1 << 20) + (128 << 10), `${stream.length} bytes`);
  });

  test("malformed streams are refused", async () => {
    const { stream } = await encode(patterned(1 << 20, [[4096, 100]]));
    const header = (size: bigint) => {
      const b = Buffer.alloc(16);
      Buffer.from("MVMSPAR1").copy(b);
      b.writeBigUInt64BE(size, 8);
      return b;
    };
    const extent = (offset: bigint, len: number, data = Buffer.alloc(len, 1)) => {
      const b = Buffer.alloc(12);
      b.writeBigUInt64BE(offset);
      b.writeUInt32BE(len, 8);
      return Buffer.concat([b, data]);
    };
    const bad: [string, Buffer, RegExp][] = [
      ["bad magic", Buffer.concat([Buffer.from("NOTSPARS"), stream.subarray(8)]), /bad magic/],
      ["truncated", stream.subarray(0, stream.length - 5), /ended early/],
      ["trailing garbage", Buffer.concat([stream, Buffer.from("x")]), /after the trailer/],
      ["extent beyond the end", Buffer.concat([header(100n), extent(90n, 20)]), /too long|beyond/],
      ["offset past the end", Buffer.concat([header(100n), extent(1000n, 1)]), /beyond the end/],
      ["overlap", Buffer.concat([header(100n), extent(10n, 10), extent(15n, 10)]), /overlap/],
      ["early trailer", Buffer.concat([header(100n), extent(50n, 0)]), /early trailer/],
      [
        "huge extent",
        Buffer.concat([header(1n << 40n), extent(0n, 0x7fffffff, Buffer.alloc(0))]),
        /too long/,
      ],
    ];
    for (const [name, s, re] of bad) await assert.rejects(decode(s), re, name);
    await assert.rejects(decode(stream, 4096, 5), /decodes to 1048576 bytes, the index says 5/);
  });
  test("a chunk stays intact while the consumer asks for the next one, even across runs of zeros", async () => {
    // A consumer that keeps one write in flight (the file registry) still holds a chunk while it asks
    // for the next. Data, 8 MiB of zeros, data: reading past the zeros must not reuse the buffer that
    // the last data chunk lives in.
    const mib = 1 << 20;
    const bytes = patterned(24 * mib, [
      [0, 4 * mib],
      [12 * mib, 4 * mib],
      [20 * mib, 4 * mib],
    ]);
    const dir = tempDir("mvm-sparse-");
    await fs.writeFile(join(dir, "in"), bytes);
    const fh = await fs.open(join(dir, "in"));
    const done: Partial<RawDigest> = {};
    let held: { view: Buffer; copy: Buffer } | undefined;
    const parts: Buffer[] = [];
    try {
      for await (const c of encodeSparse(fh, done)) {
        // The previous chunk's write is still "in flight": give any read-ahead time to land first.
        await new Promise((resolve) => setTimeout(resolve, 20));
        if (held) assert.ok(held.view.equals(held.copy), "a chunk changed before the next one was handled");
        held = { view: c, copy: Buffer.from(c) };
        parts.push(held.copy);
      }
    } finally {
      await fh.close();
    }
    const { out } = await decode(Buffer.concat(parts));
    assert.equal(sha(out), sha(bytes));
  });
});
