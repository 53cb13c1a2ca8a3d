// Runs s3rver (the real S3 REST server) in its own process for the registry tests and benchmarks, with
// a freshly generated key pair as its only credentials (the built-in S3RVER pair is revoked, so a
// wrong key is refused like on AWS). Prints {"port": N} on stdout once it listens.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const S3rver = require("s3rver") as new (
  opts: Record<string, unknown>,
) => { run(): Promise<{ port: number }>; close(): Promise<void> };
const account = require("s3rver/lib/models/account.js") as {
  DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void; revokeAccessKey(id: string): void };
};

const { S3_DIR, S3_BUCKET, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY } = process.env;
if (!S3_DIR || !S3_BUCKET || !S3_ACCESS_KEY_ID || !S3_SECRET_ACCESS_KEY) {
  process.stderr.write(
    "s3rver-main: S3_DIR, S3_BUCKET, S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY are required\n",
  );
  process.exit(2);
}
account.DUMMY_ACCOUNT.createKeyPair(S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY);
account.DUMMY_ACCOUNT.revokeAccessKey("S3RVER");
const server = new S3rver({
  address: "127.0.0.1",
  port: Number(process.env.S3_PORT ?? 0),
  directory: S3_DIR,
  silent: true,
  vhostBuckets: false,
  configureBuckets: [{ name: S3_BUCKET, configs: [] }],
});
const addr = await server.run();
process.stdout.write(`${JSON.stringify({ port: addr.port })}\n`);
process.on("SIGTERM", () => {
  server.close().finally(() => process.exit(0));
});
