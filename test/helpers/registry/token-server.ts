import { createSign, randomBytes, X509Certificate } from "node:crypto";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";

// A real Docker token service (the bearer-token protocol GHCR, ECR, Harbor and Docker Hub speak):
// GET /token?service=…&scope=… with basic credentials answers {"token": <ES256 JWT>} granting the
// requested scopes. The registry verifies the token with the certificate in its rootcertbundle.

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  certFile: string;
  /** Requests answered, and how many were refused. */
  issued(): number;
  refused(): number;
  close(): Promise<void>;
}

function b64url(v: Buffer | string): string {
  return Buffer.from(v).toString("base64url");
}

export async function startTokenServer(
  dir: string,
  username: string,
  password: string,
): Promise<TokenServer> {
  const keyFile = join(dir, "token.key");
  const certFile = join(dir, "token.crt");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-subj",
      "/CN=mvm-test-token",
      "-days",
      "2",
      "-keyout",
      keyFile,
      "-out",
      certFile,
    ],
    { stdio: "ignore" },
  );
  const key = readFileSync(keyFile, "utf8");
  const der = new X509Certificate(readFileSync(certFile)).raw;
  const service = "mvm-test-registry";
  const issuer = "mvm-test-issuer";
  let issued = 0;
  let refused = 0;
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const expected = `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
    if (url.pathname !== "/token" || req.headers.authorization !== expected) {
      refused++;
      res.writeHead(401, { "content-type": "application/json" }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    const access = url.searchParams.getAll("scope").map((scope) => {
      const [type, ...rest] = scope.split(":");
      const actions = rest.pop() ?? "";
      return { type, name: rest.join(":"), actions: actions.split(",").filter(Boolean) };
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: "JWT", alg: "ES256", x5c: [der.toString("base64")] };
    const claims = {
      iss: issuer,
      sub: username,
      aud: url.searchParams.get("service") ?? service,
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(8).toString("hex"),
      access,
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = createSign("sha256").update(input).sign({ key, dsaEncoding: "ieee-p1363" });
    issued++;
    res
      .writeHead(200, { "content-type": "application/json" })
      .end(JSON.stringify({ token: `${input}.${b64url(sig)}` }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certFile,
    issued: () => issued,
    refused: () => refused,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
