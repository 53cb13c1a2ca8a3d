// A fleet in miniature: three daemons, each with its own data dir and TCP port (three "hosts"), pull
// the same template by digest from one real OCI registry (docker-registry) through the API, each in
// front of its own loopback proxy that records the requests that host makes. Every host asks the
// registry for each blob at most once (a second pull of the same digest downloads no file), then
// restores a sandbox from the pulled snapshot and runs a command in it.

import assert from "node:assert/strict";
import { mkdirSync, symlinkSync } from "node:fs";
import { rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Mvm } from "../../src/sdk/index.js";
import { cliFor } from "../helpers/scratch.js";
import { tempDir } from "../helpers/cli.js";
import { http, startTestDaemon, type TestDaemon } from "../helpers/daemon.js";
import { ensureTestKit } from "../helpers/fixtures.js";
import { type FaultyProxy, startFaultyProxy } from "../helpers/registry/proxy.js";
import { type OciServer, startOci } from "../helpers/registry/servers.js";

/** Blob digests of the GET requests in a proxy's request log. */
function blobGets(proxy: FaultyProxy): string[] {
  return proxy.requests
    .map((l) => /^GET \/v2\/\S+\/blobs\/(sha256:[0-9a-f]{64}) /.exec(l)?.[1])
    .filter((d): d is string => d !== undefined);
}

describe("three hosts pull one template by digest from one OCI registry and each serves a sandbox", () => {
  const root = tempDir("mvm-fleet-");
  let oci: OciServer;
  const proxies: FaultyProxy[] = [];
  const daemons: TestDaemon[] = [];
  let digest = "";

  before(async () => {
    const kit = await ensureTestKit();
    oci = await startOci();
    const builder = join(root, "builder");
    const proj = join(root, "proj");
    mkdirSync(builder, { recursive: true });
    mkdirSync(proj);
    symlinkSync(dirname(kit.dir), join(builder, "kit"));
    const b = cliFor(builder, { ...oci.env, MVM_QEMU_ACCEL: "tcg" });
    const steps = [
      ["template", "init", "box", "--local", "--offline", "--preset", "http", "--dir", proj],
      ["template", "create", "box", "--flake", join(proj, "box"), "--mem", "256", "--cpus", "1"],
      ["template", "build", "box", "--snapshot"],
      ["template", "push", "box", "--registry", oci.url("fleet"), "--json"],
    ];
    let out = "";
    for (const s of steps) {
      const r = await b(s);
      assert.equal(r.code, 0, r.stderr);
      out = r.stdout;
    }
    digest = (JSON.parse(out) as { digest: string }).digest;
    assert.match(digest, /^sha256:[0-9a-f]{64}$/);
    const upstream = Number(oci.host.split(":")[1]);
    for (let i = 0; i < 3; i++) {
      proxies.push(await startFaultyProxy(upstream, Number.POSITIVE_INFINITY, 0));
      daemons.push(
        await startTestDaemon(
          join(root, `host${i}`),
          ["--hypervisor", "qemu", "--listen", "127.0.0.1:0", "--stop-vms-on-exit"],
          oci.env,
        ),
      );
    }
  });

  after(async () => {
    for (const d of daemons) await d.stop();
    for (const p of proxies) await p.close();
    await oci?.stop();
    await rm(root, { recursive: true, force: true });
  });

  test("each host pulls by digest through the API, asks for each blob once, and restores a sandbox", async () => {
    const ref = (i: number) => `oci://127.0.0.1:${proxies[i]?.port}/fleet@${digest}`;
    const clients = daemons.map(
      (d) => new Mvm({ url: `http://127.0.0.1:${d.port}`, apiKey: d.apiKey as string }),
    );

    // Host 0 and 2 through the SDK, host 1 through plain HTTP; all at once.
    const [p0, p1, p2] = await Promise.all([
      clients[0]!.templates.pull({ template: "box", registry: ref(0) }),
      http({ port: daemons[1]!.port as number }, "POST", "/v1/templates/pull", {
        json: { template: "box", registry: ref(1) },
        headers: { authorization: `Bearer ${daemons[1]!.apiKey}` },
      }),
      clients[2]!.templates.pull({ template: "box", registry: ref(2) }),
    ]);
    assert.equal(p1.status, 200, p1.body.toString());
    const revisions = [p0.revision, p1.json().revision, p2.revision];
    assert.equal(new Set(revisions).size, 1, "every host has the same revision");
    assert.equal(p0.digest, digest);
    assert.ok(
      p0.files.some((f) => f.name === "snapshot/mem.bin"),
      "the snapshot came along",
    );

    for (const [i, proxy] of proxies.entries()) {
      const gets = blobGets(proxy);
      assert.ok(gets.length >= 3, `host ${i} fetched the template's blobs: ${proxy.requests.join("; ")}`);
      const counts = new Map<string, number>();
      for (const g of gets) counts.set(g, (counts.get(g) ?? 0) + 1);
      for (const [blob, n] of counts) assert.equal(n, 1, `host ${i} asked for ${blob} ${n} times`);
    }

    // Pulling the same digest again finds it here and intact: only the revision's small index (the
    // manifest's config blob) is read again, to check the files against; no file is downloaded.
    const before0 = blobGets(proxies[0]!).length;
    const again = await clients[0]!.templates.pull({ template: "box", registry: ref(0) });
    assert.equal(again.already_present, true);
    assert.equal(again.downloaded_bytes, 0);
    assert.ok(blobGets(proxies[0]!).length - before0 <= 1, "a second pull downloads no file blob");

    for (const [i, mvm] of clients.entries()) {
      const host = await mvm.host();
      assert.equal(host.backend, "qemu");
      assert.ok(host.snapshot_fingerprint, "a ready template gives the host fingerprint");
      const t = await mvm.templates.get("box");
      for (const [k, v] of Object.entries(host.snapshot_fingerprint))
        assert.equal(t.snapshot_fingerprint?.[k], v, `the snapshot was taken on a host like this one (${k})`);
      await using vm = await mvm.start("box", { name: `sb${i}` });
      assert.equal(vm.info.mode, "restore", `host ${i} restored the pulled snapshot`);
      assert.equal((await vm.exec(["hostname"])).stdout, `sb${i}\n`);
      assert.deepEqual(
        (await mvm.host()).running.map((v) => v.name),
        [`sb${i}`],
      );
    }
  });
});
