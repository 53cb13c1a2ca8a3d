import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { runCli, tempDir } from "../../helpers/cli.js";
import { makeRevision } from "../../helpers/registry/fixtures.js";
import { type OciServer, startOci } from "../../helpers/registry/servers.js";
import { startTokenServer, type TokenServer } from "../../helpers/registry/token-server.js";

// oci:// with bearer tokens: docker-registry configured for token auth sends the client to a real
// token service (token-server.ts), as GHCR, ECR and Harbor do.

let oci: OciServer;
let tokens: TokenServer | undefined;

before(async () => {
  oci = await startOci({
    token: async (dir, user, pass) => {
      tokens = await startTokenServer(dir, user, pass);
      return tokens;
    },
  });
});

after(async () => {
  await oci?.stop();
  await tokens?.close();
});

test("push, list and pull with bearer tokens; wrong credentials are refused by the token service", async () => {
  const home = tempDir();
  const fx = await makeRevision(home, "tok", { snapshot: true });
  const run = (args: string[], dataDir: string, env: Record<string, string> = {}) =>
    runCli(args, { dataDir, env: { ...oci.env, ...env }, timeoutMs: 120_000 });
  let r = await run(["template", "push", "tok", "--registry", oci.url()], home);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(tokens!.issued() > 0, "the client fetched tokens");
  r = await run(["template", "list", "--remote", "--registry", oci.url(), "--json"], home);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).templates, [{ name: "tok", current: fx.rev, revisions: [fx.rev] }]);
  const target = tempDir();
  r = await run(["template", "pull", "tok", "--registry", oci.url()], target);
  assert.equal(r.code, 0, r.stderr);
  r = await run(["template", "verify", "tok"], target);
  assert.equal(r.code, 0, r.stderr);

  const refusedBefore = tokens!.refused();
  r = await run(["template", "pull", "tok", "--registry", oci.url()], tempDir(), {
    MVM_OCI_PASSWORD: "wrong",
  });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^error: registry token service refused the credentials \(HTTP 401\)$/m);
  assert.ok(tokens!.refused() > refusedBefore);
});
