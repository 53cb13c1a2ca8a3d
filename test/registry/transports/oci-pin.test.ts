import assert from "node:assert/strict";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { runCli, tempDir } from "../../helpers/cli.js";
import { makeRevision } from "../../helpers/registry/fixtures.js";
import { type OciServer, startOci } from "../../helpers/registry/servers.js";

// OCI registries as a fleet uses them (docker-registry, htpasswd auth): the manifest digest printed by
// push is stable across re-pushes of the same revision and pins what a pull installs
// (oci://host/repo@sha256:… or oci://host/repo:<tag>); credentials come from Docker credential
// helpers (credHelpers / credsStore) as docker itself gets them.

const MANIFEST = "application/vnd.oci.image.manifest.v1+json";

describe("OCI digests, pinned pulls and credential helpers", () => {
  let oci: OciServer;
  before(async () => {
    oci = await startOci();
  });
  after(async () => {
    await oci.stop();
  });

  async function ok(args: string[], dataDir: string, env: Record<string, string | undefined> = oci.env) {
    const r = await runCli(args, { dataDir, env, timeoutMs: 120_000 });
    assert.equal(r.code, 0, `mvmctl ${args.join(" ")} failed: ${r.stderr}`);
    return r;
  }

  async function registryDigest(repo: string, ref: string): Promise<string | null> {
    const auth = `Basic ${Buffer.from(`${oci.username}:${oci.password}`).toString("base64")}`;
    const res = await fetch(`http://${oci.host}/v2/${repo}/manifests/${ref}`, {
      method: "HEAD",
      headers: { authorization: auth, accept: MANIFEST },
    });
    return res.headers.get("docker-content-digest");
  }

  test("push prints a manifest digest that a re-push keeps and that pins a pull", async () => {
    const home = tempDir();
    const first = await makeRevision(home, "web", { snapshot: true });
    const url = oci.url("fleet");
    const push1 = await ok(["template", "push", "web", "--registry", url], home);
    const stored = await registryDigest("fleet/web", first.rev);
    const push2 = JSON.parse(
      (await ok(["template", "push", "web", "--registry", url, "--json"], home)).stdout,
    );
    assert.equal(
      await registryDigest("fleet/web", first.rev),
      stored,
      "re-pushing the same revision keeps its manifest digest",
    );
    const digest = /^Digest: (sha256:[0-9a-f]{64})$/m.exec(push1.stdout)?.[1];
    assert.equal(digest, stored, push1.stdout);
    assert.equal(push2.digest, stored);

    // A newer revision becomes current; the digest (and the revision's tag) still pin the first one.
    const second = await makeRevision(home, "web");
    await ok(["template", "push", "web", "--registry", url], home);
    const byDigest = tempDir();
    const pulled = JSON.parse(
      (await ok(["template", "pull", "web", "--registry", `${url}@${digest}`, "--json"], byDigest)).stdout,
    );
    assert.equal(pulled.revision, first.rev);
    assert.equal(JSON.parse((await ok(["template", "verify", "web", "--json"], byDigest)).stdout).ok, true);
    const byTag = tempDir();
    const tagged = JSON.parse(
      (await ok(["template", "pull", "web", "--registry", `${url}:${first.rev}`, "--json"], byTag)).stdout,
    );
    assert.equal(tagged.revision, first.rev);
    const current = JSON.parse(
      (await ok(["template", "pull", "web", "--registry", `${url}:current`, "--json"], tempDir())).stdout,
    );
    assert.equal(current.revision, second.rev);

    const unknown = `sha256:${"0".repeat(64)}`;
    const missing = await runCli(["template", "pull", "web", "--registry", `${url}@${unknown}`], {
      dataDir: tempDir(),
      env: oci.env,
    });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, new RegExp(`^error: fleet/web has no manifest ${unknown}$`, "m"));
    const conflict = await runCli(
      ["template", "pull", "web", "--registry", `${url}@${digest}`, "--revision", second.rev],
      { dataDir: tempDir(), env: oci.env },
    );
    assert.equal(conflict.code, 2);
    assert.match(conflict.stderr, /is revision \S+, not \S+$/m);
    const pushPinned = await runCli(["template", "push", "web", "--registry", `${url}@${digest}`], {
      dataDir: home,
      env: oci.env,
    });
    assert.equal(pushPinned.code, 2);
    assert.match(pushPinned.stderr, /pins a manifest .*push to the repository without it/);
    const badDigest = await runCli(["template", "pull", "web", "--registry", `${url}@sha256:abc`], {
      dataDir: home,
    });
    assert.equal(badDigest.code, 2);
    assert.match(badDigest.stderr, /^error: invalid OCI digest "sha256:abc"/m);
  });

  /** A docker-credential-<name> on PATH that logs its argv and stdin and answers with the password. */
  function fakeHelper(name: string): { path: string; log: string } {
    const bin = tempDir("mvm-cred-bin-");
    const log = join(bin, "calls.log");
    const script = join(bin, `docker-credential-${name}`);
    writeFileSync(
      script,
      [
        "#!/bin/sh",
        'read -r server || server="$server"',
        `printf '%s|%s\\n' "$*" "$server" >> ${JSON.stringify(log)}`,
        `[ "$server" = ${JSON.stringify(oci.host)} ] || { echo "credentials not found in native keychain"; exit 1; }`,
        `printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}' "$server" ${JSON.stringify(oci.username)} ${JSON.stringify(oci.password)}`,
        "",
      ].join("\n"),
    );
    chmodSync(script, 0o755);
    return { path: bin, log };
  }

  function dockerEnv(config: unknown, bin: string): Record<string, string | undefined> {
    const dir = tempDir("mvm-docker-");
    writeFileSync(join(dir, "config.json"), JSON.stringify(config));
    return {
      DOCKER_CONFIG: dir,
      PATH: `${bin}:${process.env.PATH}`,
      MVM_OCI_USERNAME: undefined,
      MVM_OCI_PASSWORD: undefined,
      MVM_TEMPLATE_REGISTRY_INSECURE: "1",
    };
  }

  test("credHelpers and credsStore: docker-credential-<name> get is run and its credentials used", async () => {
    const home = tempDir();
    await makeRevision(home, "svc");
    const url = oci.url("creds");
    const helper = fakeHelper("mvmtest");
    const withHelper = dockerEnv({ credHelpers: { [oci.host]: "mvmtest" } }, helper.path);
    await ok(["template", "push", "svc", "--registry", url], home, withHelper);
    const calls = readFileSync(helper.log, "utf8").trim().split("\n");
    assert.ok(calls.length >= 1);
    for (const c of calls) assert.equal(c, `get|${oci.host}`);

    const store = fakeHelper("store");
    const withStore = dockerEnv({ credsStore: "store", auths: { [oci.host]: {} } }, store.path);
    const list = JSON.parse(
      (await ok(["template", "list", "--remote", "--registry", url, "--json"], home, withStore)).stdout,
    );
    assert.deepEqual(
      list.templates.map((t: { name: string }) => t.name),
      ["svc"],
    );
    assert.ok(existsSync(store.log));

    // Without credentials (helper missing, or not holding this host) the registry's refusal is shown,
    // never the password.
    const missing = dockerEnv({ credsStore: "nothere" }, helper.path);
    const r1 = await runCli(["template", "list", "--remote", "--registry", url], {
      dataDir: home,
      env: missing,
    });
    assert.equal(r1.code, 1);
    assert.match(r1.stderr, /^error: credential helper docker-credential-nothere is not on PATH/m);
    const other = fakeHelper("other");
    const none = dockerEnv(
      { credHelpers: { "elsewhere.example": "other" }, credsStore: "other" },
      other.path,
    );
    writeFileSync(
      join(other.path, "docker-credential-other"),
      "#!/bin/sh\necho 'credentials not found in native keychain'\nexit 1\n",
    );
    const r2 = await runCli(["template", "push", "svc", "--registry", url], { dataDir: home, env: none });
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, /requires authentication|refused/);
    for (const r of [r1, r2]) assert.doesNotMatch(r.stdout + r.stderr, new RegExp(oci.password));
  });
});
