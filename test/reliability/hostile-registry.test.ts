import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  cpSync,
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import type { RemoteIndex } from "../../src/registry/index.js";
import { resolveRegistry } from "../../src/registry/location.js";
import { openTransport } from "../../src/registry/open.js";
import type { RegistryTransport, UploadBody } from "../../src/registry/transports/transport.js";
import { runCli, tempDir } from "../helpers/cli.js";
import { makeRevision } from "../helpers/registry/fixtures.js";
import { type OciServer, type S3Server, startOci, startS3 } from "../helpers/registry/servers.js";

// Hostile registries on every transport (a directory for file://, s3rver for S3, docker-registry for
// OCI): a revision is pushed for real, then rewritten the way a hostile registry owner could. Each pull
// must end in one clear error line with exit 1 within the CLI's own time (no CPU pinned for hours), and
// install nothing: no template.json, no `current`, no revision directory, no staging left behind.

const HUGE = 2 ** 53 - 1;
const TIB = 1024 ** 4;
const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

/** A sparse1 stream with no extents that decodes to `size` zero bytes: 28 bytes on the wire. */
function zeroStream(size: number): Buffer {
  const b = Buffer.alloc(28);
  b.write("MVMSPAR1", 0, "latin1");
  b.writeBigUInt64BE(BigInt(size), 8);
  b.writeBigUInt64BE(BigInt(size), 16);
  b.writeUInt32BE(0, 24);
  return b;
}

function bodyOf(bytes: Buffer): UploadBody {
  return {
    chunks: (async function* () {
      yield bytes;
    })(),
    result: () => ({ stored_sha256: sha(bytes), stored_size: bytes.length }),
  };
}

interface Registry {
  kind: "file" | "s3" | "oci";
  url: string;
  env: Record<string, string>;
  /** Replaces the stored checksums.json (the OCI config blob: the manifest) with raw text. */
  writeIndexText(template: string, rev: string, index: RemoteIndex, pad: number): Promise<void>;
  /** The file registry's root (file:// only). */
  root?: string;
}

interface Ctx {
  reg: Registry;
  transport: RegistryTransport;
  template: string;
  rev: string;
  index: RemoteIndex;
}

/** Stores `bytes` as object `name` of the revision and records it in the index (not yet committed). */
async function replaceObject(c: Ctx, name: string, bytes: Buffer, decoded: { sha256: string; size: number }) {
  const encoding = bytes.subarray(0, 8).toString("latin1") === "MVMSPAR1" ? "sparse1" : "identity";
  const obj = { name, encoding, sha256: decoded.sha256, size: decoded.size } as const;
  await c.transport.putObject(c.template, c.rev, obj, bodyOf(bytes), () => {});
  c.index.files[name] = decoded.sha256;
  c.index.transfer[name] = {
    encoding,
    size: decoded.size,
    stored_size: bytes.length,
    stored_sha256: sha(bytes),
  };
}

type RevisionJson = { snapshot?: Record<string, unknown>; spec?: Record<string, unknown> };

/** Rewrites revision.json through `edit` and stores it. */
async function editRevision(c: Ctx, home: string, edit: (r: RevisionJson) => void) {
  const file = join(home, "templates", c.template, "artifacts", "revisions", c.rev, "revision.json");
  const rev = JSON.parse(readFileSync(file, "utf8")) as RevisionJson;
  edit(rev);
  const bytes = Buffer.from(JSON.stringify(rev, null, 2));
  await replaceObject(c, "revision.json", bytes, { sha256: sha(bytes), size: bytes.length });
}

interface RegistryCase {
  what: string;
  kinds: Registry["kind"][];
  error: RegExp;
  tamper(c: Ctx, home: string): Promise<void>;
}

const ALL: Registry["kind"][] = ["file", "s3", "oci"];

const cases: RegistryCase[] = [
  {
    what: "a 28-byte sparse stream claiming 2^53 bytes of rootfs",
    kinds: ALL,
    error: /claims rootfs\.ext4 is 9007199254740991 bytes, more than mvmctl accepts for it/,
    async tamper(c) {
      await replaceObject(c, "rootfs.ext4", zeroStream(HUGE), { sha256: "0".repeat(64), size: HUGE });
      await c.transport.commit(c.template, c.rev, c.index);
    },
  },
  {
    what: "a 28-byte sparse stream claiming a 1 TiB rootfs its revision.json does not record",
    kinds: ALL,
    error: /says rootfs\.ext4 is 1099511627776 bytes but its revision\.json records 1048576/,
    async tamper(c) {
      await replaceObject(c, "rootfs.ext4", zeroStream(TIB), { sha256: "0".repeat(64), size: TIB });
      await c.transport.commit(c.template, c.rev, c.index);
    },
  },
  {
    what: "a 28-byte sparse stream claiming 2^53 bytes of memory, revision.json agreeing",
    kinds: ALL,
    error: /claims snapshot\/mem\.bin is 9007199254740991 bytes, more than mvmctl accepts for it/,
    async tamper(c, home) {
      await replaceObject(c, "snapshot/mem.bin", zeroStream(HUGE), { sha256: "0".repeat(64), size: HUGE });
      await editRevision(c, home, (r) => {
        r.snapshot = { ...r.snapshot, mem_size_bytes: HUGE };
      });
      await c.transport.commit(c.template, c.rev, c.index);
    },
  },
  {
    what: "revision.json built for another template",
    kinds: ALL,
    error: /revision\.json was built for template "other", not /,
    async tamper(c, home) {
      await editRevision(c, home, (r) => {
        r.spec = { ...r.spec, template_id: "other" };
      });
      await c.transport.commit(c.template, c.rev, c.index);
    },
  },
  {
    what: "an index of 2 MiB",
    kinds: ALL,
    error: /more than (the )?1048576/,
    async tamper(c) {
      await c.reg.writeIndexText(c.template, c.rev, c.index, 2 << 20);
    },
  },
  {
    what: "an object that is a symlink to a file outside the registry",
    kinds: ["file"],
    error: /rootfs\.ext4 is a symlink; registry files are never followed/,
    async tamper(c) {
      const obj = join(c.reg.root!, "templates", c.template, "revisions", c.rev, "rootfs.ext4");
      const outside = join(tempDir("mvm-outside-object-"), "rootfs.ext4");
      renameSync(obj, outside);
      symlinkSync(outside, obj);
    },
  },
  {
    what: "a revision directory that is a symlink to a copy outside the registry",
    kinds: ["file"],
    error: /revisions\/[0-9a-z]{32} is a symlink; registry files are never followed/,
    async tamper(c) {
      const dir = join(c.reg.root!, "templates", c.template, "revisions", c.rev);
      const outside = join(tempDir("mvm-outside-rev-"), c.rev);
      cpSync(dir, outside, { recursive: true });
      renameSync(dir, `${outside}.gone`);
      symlinkSync(outside, dir);
    },
  },
  {
    what: "current as a symlink to a file outside the registry",
    kinds: ["file"],
    error: /current is a symlink; registry files are never followed/,
    async tamper(c) {
      const current = join(c.reg.root!, "templates", c.template, "current");
      const outside = join(tempDir("mvm-outside-current-"), "current");
      writeFileSync(outside, `${c.rev}\n`);
      renameSync(current, `${outside}.gone`);
      symlinkSync(outside, current);
    },
  },
];

// The SDK warns on every client that future releases need Node 22: not what this test is about.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

let s3: S3Server;
let oci: OciServer;
const registries: Registry[] = [];

before(async () => {
  [s3, oci] = await Promise.all([startS3(), startOci()]);
  // The in-process transports that play the hostile registry owner read credentials from here.
  Object.assign(process.env, s3.env, oci.env);
  const fileRoot = tempDir("mvm-hostile-file-registry-");
  registries.push({
    kind: "file",
    url: `file://${fileRoot}`,
    env: {},
    root: fileRoot,
    async writeIndexText(template, rev, index, pad) {
      const file = join(fileRoot, "templates", template, "revisions", rev, "checksums.json");
      writeFileSync(file, JSON.stringify(index) + " ".repeat(pad));
    },
  });
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  registries.push({
    kind: "s3",
    url: s3.url("hostile"),
    env: s3.env,
    async writeIndexText(template, rev, index, pad) {
      await client.send(
        new PutObjectCommand({
          Bucket: s3.bucket,
          Key: `hostile/templates/${template}/revisions/${rev}/checksums.json`,
          Body: JSON.stringify(index) + " ".repeat(pad),
        }),
      );
    },
  });
  registries.push({
    kind: "oci",
    url: oci.url("hostile"),
    env: oci.env,
    // The manifest is the OCI index of a revision: padded with an annotation, pushed under its tag.
    async writeIndexText(template, rev) {
      const auth = `Basic ${Buffer.from(`${oci.username}:${oci.password}`).toString("base64")}`;
      const type = "application/vnd.oci.image.manifest.v1+json";
      const url = `http://${oci.host}/v2/hostile/${template}/manifests/${rev}`;
      const got = await fetch(url, { headers: { authorization: auth, accept: type } });
      assert.equal(got.status, 200);
      const manifest = (await got.json()) as { annotations: Record<string, string> };
      manifest.annotations["vnd.padding"] = "x".repeat(2 << 20);
      const put = await fetch(url, {
        method: "PUT",
        headers: { authorization: auth, "content-type": type },
        body: JSON.stringify(manifest),
      });
      assert.equal(put.status, 201, await put.text());
    },
  });
});

after(async () => {
  await Promise.all([s3?.stop(), oci?.stop()]);
});

const runs = cases.flatMap((c) => c.kinds.map((kind) => ({ c, kind })));

test(`hostile registries: ${runs.length} cases over file://, S3 and OCI fail cleanly and install nothing`, {
  timeout: 900_000,
}, async () => {
  const failures: string[] = [];
  for (const [i, { c, kind }] of runs.entries()) {
    const reg = registries.find((r) => r.kind === kind)!;
    const what = `${kind}: ${c.what}`;
    const template = `hostile${i}`;
    const home = tempDir("mvm-hostile-reg-home-");
    const fx = await makeRevision(home, template, {
      rootfsBytes: 1 << 20,
      rootfsDataBytes: 64 << 10,
      kernelBytes: 4096,
      snapshot: true,
    });
    const push = await runCli(["template", "push", template, "--registry", reg.url], {
      dataDir: home,
      env: reg.env,
      timeoutMs: 120_000,
    });
    assert.equal(push.code, 0, `${what}: push: ${push.stderr}`);
    const transport = await openTransport(resolveRegistry(reg.url, "/nonexistent", process.env));
    try {
      const index = await transport.getIndex(template, fx.rev);
      assert.ok(index, `${what}: no index after the push`);
      await c.tamper({ reg, transport, template, rev: fx.rev, index }, home);
    } finally {
      await transport.close();
    }
    const data = tempDir("mvm-hostile-reg-pull-");
    // The CLI's own bounds must end it: the kill after 60 s only keeps a hung pull from hanging the suite.
    const r = await runCli(["template", "pull", template, "--registry", reg.url], {
      dataDir: data,
      env: { ...reg.env, MVM_REGISTRY_RETRIES: "0" },
      timeoutMs: 60_000,
    });
    const line = r.stderr.split("\n").find((l) => l.startsWith("error:"));
    if (r.code !== 1) failures.push(`${what}: exit ${r.code ?? r.signal}, ${r.stderr.slice(0, 300)}`);
    else if (!line) failures.push(`${what}: no error line in ${JSON.stringify(r.stderr.slice(0, 300))}`);
    else if (!c.error.test(line)) failures.push(`${what}: unexpected error: ${line}`);
    else if (/\n\s+at \S+ \(/.test(r.stderr)) failures.push(`${what}: stack trace`);
    const tdir = join(data, "templates", template);
    const left = existsSync(tdir) ? readdirSync(tdir, { recursive: true }).map(String) : [];
    if (left.some((e) => e === "template.json" || e === "current" || /revisions\/./.test(e)))
      failures.push(`${what}: installed or left ${left.join(", ")}`);
  }
  assert.deepEqual(failures, []);
});
