import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { MultipartError, multipartBoundary, readMultipart } from "../../src/e2b/envd/multipart.js";

// The upload body of E2B's SDK (`files.write` with strings or blobs) is FormData as fetch encodes it;
// the reader must take it apart whatever the network's chunking, and never buffer a whole file.

async function encode(form: FormData): Promise<{ body: Buffer; type: string }> {
  const r = new Response(form);
  return { body: Buffer.from(await r.arrayBuffer()), type: r.headers.get("content-type") ?? "" };
}

async function* chunks(b: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

async function parse(body: Buffer, type: string, size: number) {
  const boundary = multipartBoundary(type);
  assert.ok(boundary, type);
  const out: { name: string; filename: string | undefined; data: Buffer }[] = [];
  await readMultipart(chunks(body, size), boundary, async (info, part) => {
    const parts: Buffer[] = [];
    for await (const c of part) parts.push(c as Buffer);
    out.push({ ...info, data: Buffer.concat(parts) });
  });
  return out;
}

test("FormData bodies as fetch sends them: every part, any chunking", async () => {
  const big = randomBytes(20 * 1024);
  const form = new FormData();
  form.append("file", new Blob(["hello\r\n--not-a-boundary\r\n"]), "docs/a.txt");
  form.append("file", new Blob([big]), "/tmp/big.bin");
  form.append("file", new Blob([]), 'we"ird\nname.txt');
  const { body, type } = await encode(form);
  for (const size of [1, 7, 70, 4096, body.length]) {
    const parts = await parse(body, type, size);
    assert.deepEqual(
      parts.map((p) => [p.name, p.filename, p.data.length]),
      [
        ["file", "docs/a.txt", 25],
        ["file", "/tmp/big.bin", big.length],
        ["file", 'we"ird\nname.txt', 0],
      ],
      `chunks of ${size}`,
    );
    assert.equal(parts[0]?.data.toString(), "hello\r\n--not-a-boundary\r\n");
    assert.ok(parts[1]?.data.equals(big));
  }
});

test("a truncated body or one without a boundary is an error, not a partial success", async () => {
  const form = new FormData();
  form.append("file", new Blob(["data"]), "a.txt");
  const { body, type } = await encode(form);
  await assert.rejects(parse(body.subarray(0, body.length - 10), type, 16), (e: unknown) => {
    assert.ok(e instanceof MultipartError);
    assert.match(e.message, /ended early/);
    return true;
  });
  await assert.rejects(parse(Buffer.alloc(100 * 1024, 0x61), type, 1024), (e: unknown) => {
    assert.ok(e instanceof MultipartError);
    assert.match(e.message, /no multipart boundary/);
    return true;
  });
  assert.equal(multipartBoundary("application/octet-stream"), undefined);
});
