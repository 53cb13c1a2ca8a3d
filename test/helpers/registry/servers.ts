import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { tempDir } from "../cli.js";

// Real servers for the registry tests, each on a free loopback port and killed at the end:
// s3rver (npm) with generated credentials, and Debian's docker-registry (distribution 2.8) with
// htpasswd authentication and a config written here.

export interface S3Server {
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  env: Record<string, string>;
  url(prefix?: string): string;
  stop(): Promise<void>;
}

export interface OciServer {
  host: string;
  username: string;
  password: string;
  /** The registry's storage root (blobs live under docker/registry/v2/blobs/sha256/). */
  storage: string;
  env: Record<string, string>;
  url(repository?: string): string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise((res) => {
      if (child.exitCode !== null || child.signalCode !== null) return res();
      child.once("close", () => res());
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 3000).unref();
    });
}

export async function startS3(): Promise<S3Server> {
  const bucket = "mvm-templates";
  const accessKeyId = `AK${randomBytes(8).toString("hex").toUpperCase()}`;
  const secretAccessKey = randomBytes(20).toString("base64url");
  const main = resolve(import.meta.dirname, "s3rver-main.js");
  const child = spawn(process.execPath, [main], {
    env: {
      ...process.env,
      S3_DIR: tempDir("mvm-s3rver-"),
      S3_BUCKET: bucket,
      S3_ACCESS_KEY_ID: accessKeyId,
      S3_SECRET_ACCESS_KEY: secretAccessKey,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise<number>((res, rej) => {
    let out = "";
    child.stdout!.on("data", (d) => {
      out += d;
      const m = /"port":\s*(\d+)/.exec(out);
      if (m) res(Number(m[1]));
    });
    child.once("exit", (code) => rej(new Error(`s3rver exited with ${code}`)));
    setTimeout(() => rej(new Error("s3rver did not start")), 20_000).unref();
  });
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    bucket,
    accessKeyId,
    secretAccessKey,
    env: {
      MVM_TEMPLATE_REGISTRY_ENDPOINT: endpoint,
      MVM_TEMPLATE_REGISTRY_INSECURE: "1",
      MVM_TEMPLATE_REGISTRY_ACCESS_KEY_ID: accessKeyId,
      MVM_TEMPLATE_REGISTRY_SECRET_ACCESS_KEY: secretAccessKey,
    },
    url: (prefix = "mvm") => `s3://${bucket}/${prefix}`,
    stop: stopper(child),
  };
}

/** Bearer-token authentication instead of htpasswd: the token service the registry sends clients to. */
export interface TokenAuth {
  realm: string;
  service: string;
  issuer: string;
  certFile: string;
}

export async function startOci(
  opts: { token?: (dir: string, username: string, password: string) => Promise<TokenAuth> } = {},
): Promise<OciServer> {
  const dir = tempDir("mvm-oci-");
  const username = "mvm";
  const password = randomBytes(12).toString("base64url");
  const htpasswd = execFileSync("htpasswd", ["-Bbn", username, password], { encoding: "utf8" });
  writeFileSync(join(dir, "htpasswd"), htpasswd);
  const token = opts.token ? await opts.token(dir, username, password) : undefined;
  const auth = token
    ? [
        "auth:",
        "  token:",
        `    realm: ${token.realm}`,
        `    service: ${token.service}`,
        `    issuer: ${token.issuer}`,
        `    rootcertbundle: ${token.certFile}`,
      ]
    : ["auth:", "  htpasswd:", "    realm: mvm-test", `    path: ${join(dir, "htpasswd")}`];
  const port = await freePort();
  const config = [
    "version: 0.1",
    "log:",
    "  level: error",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${join(dir, "data")}`,
    "  delete:",
    "    enabled: true",
    "http:",
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomBytes(16).toString("hex")}`,
    ...auth,
    "",
  ].join("\n");
  writeFileSync(join(dir, "config.yml"), config);
  const child = spawn("docker-registry", ["serve", join(dir, "config.yml")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr!.on("data", (d) => {
    log = (log + d).slice(-4000);
  });
  const host = `127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${log}`);
    const up = await fetch(`http://${host}/v2/`).then(
      (r) => r.status,
      () => 0,
    );
    if (up === 401) break;
    if (Date.now() > deadline) throw new Error(`docker-registry did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host,
    username,
    password,
    storage: join(dir, "data"),
    env: { MVM_OCI_USERNAME: username, MVM_OCI_PASSWORD: password, MVM_TEMPLATE_REGISTRY_INSECURE: "1" },
    url: (repository = "mvm") => `oci://${host}/${repository}`,
    stop: stopper(child),
  };
}
