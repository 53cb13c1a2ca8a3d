import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import type { Encoding } from "./index.js";
import { encodeIdentity, encodeSparse, type RawDigest, SPARSE_ENCODING } from "./sparse.js";
import type { UploadBody, Uploaded } from "./transports/transport.js";

// Upload bodies: the stored bytes of one file (encoded on the fly) with two running digests, one over
// the file's own bytes (checked against checksums.json) and one over the stored bytes (the OCI blob
// digest, the S3/file dedup key).

/**
 * What an upload reads. `knownSha256`: the file's digest, remembered from an earlier hash while the
 * file is provably unchanged (digest-cache.ts), so its bytes are not hashed again.
 */
export type Source = { kind: "file"; path: string; knownSha256?: string } | { kind: "bytes"; data: Buffer };

export interface OpenBody extends UploadBody {
  raw(): RawDigest;
  close(): Promise<void>;
}

export async function openBody(source: Source, encoding: Encoding): Promise<OpenBody> {
  const stored = createHash("sha256");
  let storedSize = 0;
  let storedResult: Uploaded | undefined;
  const raw: Partial<RawDigest> = {};
  let inner: AsyncIterable<Buffer>;
  let close = async () => {};
  if (source.kind === "bytes") {
    const data = source.data;
    inner = (async function* () {
      raw.sha256 = createHash("sha256").update(data).digest("hex");
      raw.size = data.length;
      yield data;
    })();
  } else {
    const fh = await fs.open(source.path, "r");
    close = () => fh.close();
    inner =
      encoding === SPARSE_ENCODING
        ? encodeSparse(fh, raw, source.knownSha256)
        : encodeIdentity(fh, raw, source.knownSha256);
  }
  // Stored as they are, the stored bytes are the file's bytes: one digest serves as both.
  const asIs = encoding === "identity";
  async function* chunks(): AsyncGenerator<Buffer> {
    for await (const c of inner) {
      if (!asIs) stored.update(c);
      storedSize += c.length;
      yield c;
    }
    storedResult = {
      stored_sha256: asIs ? (raw.sha256 as string) : stored.digest("hex"),
      stored_size: storedSize,
    };
  }
  return {
    chunks: chunks(),
    result() {
      if (!storedResult) throw new Error("upload body read before it was finished");
      return storedResult;
    },
    raw() {
      if (raw.sha256 === undefined || raw.size === undefined) throw new Error("upload body not finished");
      return { sha256: raw.sha256, size: raw.size };
    },
    close,
  };
}
