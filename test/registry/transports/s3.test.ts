import assert from "node:assert/strict";
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { startS3 } from "../../helpers/registry/servers.js";
import { registrySuite } from "./suite.js";

// s3:// against s3rver (a real S3 REST server in its own process) with generated credentials, through
// the original's MVM_TEMPLATE_REGISTRY_* variables for endpoint and keys.

registrySuite("s3", async () => {
  const s3 = await startS3();
  const port = Number(new URL(s3.endpoint).port);
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  const key = (template: string, rev: string, name: string) =>
    `mvm/templates/${template}/revisions/${rev}/${name}`;
  return {
    port,
    url: () => s3.url("mvm"),
    env: s3.env,
    viaEnv: (p: number) => ({ MVM_TEMPLATE_REGISTRY_ENDPOINT: `http://127.0.0.1:${p}` }),
    // s3rver checks the access key id (it does not recompute SigV4 signatures).
    badEnv: { MVM_TEMPLATE_REGISTRY_ACCESS_KEY_ID: "AKNOTAREALKEY000" },
    async tamper(template, rev, name) {
      const got = await client.send(
        new GetObjectCommand({ Bucket: s3.bucket, Key: key(template, rev, name) }),
      );
      const bytes = Buffer.from(await got.Body!.transformToByteArray());
      bytes[7] = (bytes[7] ?? 0) ^ 0x5a;
      await client.send(
        new PutObjectCommand({
          Bucket: s3.bucket,
          Key: key(template, rev, name),
          Body: bytes,
          Metadata: got.Metadata,
        }),
      );
    },
    async afterRoundTrip(template, rev, requests) {
      // The 24 MiB rootfs went up as a multipart upload with several parts.
      const parts = requests.filter(
        (r) => r.startsWith("PUT ") && r.includes("rootfs.ext4?") && /partNumber=\d/.test(r),
      );
      assert.ok(parts.length >= 3, `rootfs parts: ${parts.join(", ")}`);
      assert.ok(
        requests.some((r) => r.startsWith("POST ") && /rootfs\.ext4\?uploads/.test(r)),
        requests.join("\n"),
      );
      const head = await client.send(
        new HeadObjectCommand({ Bucket: s3.bucket, Key: key(template, rev, "rootfs.ext4") }),
      );
      assert.equal(head.Metadata?.["mvm-encoding"], "sparse1");
      const current = await client.send(
        new GetObjectCommand({ Bucket: s3.bucket, Key: `mvm/templates/${template}/current` }),
      );
      assert.equal(await current.Body!.transformToString(), `${rev}\n`);
    },
    async stop() {
      client.destroy();
      await s3.stop();
    },
  };
});
