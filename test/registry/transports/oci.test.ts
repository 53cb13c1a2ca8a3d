import assert from "node:assert/strict";
import { promises as fs } from "node:fs";
import { join } from "node:path";
import { startOci } from "../../helpers/registry/servers.js";
import { registrySuite } from "./suite.js";

// oci:// against Debian's docker-registry (distribution 2.8) with htpasswd authentication.

registrySuite("oci", async () => {
  const oci = await startOci();
  const port = Number(oci.host.split(":")[1]);
  const auth = `Basic ${Buffer.from(`${oci.username}:${oci.password}`).toString("base64")}`;
  return {
    port,
    url: (p?: number) => (p ? `oci://127.0.0.1:${p}/mvm` : oci.url("mvm")),
    env: oci.env,
    badEnv: { MVM_OCI_PASSWORD: "not-the-password" },
    async tamper(_template, _rev, _name, storedSha256) {
      const file = join(
        oci.storage,
        "docker/registry/v2/blobs/sha256",
        storedSha256.slice(0, 2),
        storedSha256,
        "data",
      );
      const bytes = await fs.readFile(file);
      bytes[7] = (bytes[7] ?? 0) ^ 0x5a;
      await fs.writeFile(file, bytes);
    },
    async afterRoundTrip(template, rev, requests) {
      // Blobs larger than the chunk size went up as several PATCH requests (chunked upload).
      assert.ok(requests.filter((r) => r.startsWith("PATCH ")).length >= 3 + 7, requests.join("\n"));
      const res = await fetch(`http://${oci.host}/v2/mvm/${template}/manifests/${rev}`, {
        headers: { authorization: auth, accept: "application/vnd.oci.image.manifest.v1+json" },
      });
      assert.equal(res.status, 200);
      const m = (await res.json()) as {
        artifactType: string;
        layers: { mediaType: string; annotations: Record<string, string> }[];
        annotations: Record<string, string>;
      };
      assert.equal(m.artifactType, "application/vnd.mvm.template.v1");
      assert.equal(m.annotations["vnd.mvm.revision"], rev);
      assert.equal(m.annotations["vnd.mvm.template"], template);
      const rootfs = m.layers.find((l) => l.annotations["org.opencontainers.image.title"] === "rootfs.ext4");
      assert.equal(rootfs?.mediaType, "application/vnd.mvm.template.rootfs.v1+sparse1");
      assert.equal(rootfs?.annotations["vnd.mvm.file.size"], String(512 << 20));
      const current = await fetch(`http://${oci.host}/v2/mvm/${template}/manifests/current`, {
        method: "HEAD",
        headers: { authorization: auth, accept: "application/vnd.oci.image.manifest.v1+json" },
      });
      assert.equal(current.headers.get("docker-content-digest"), res.headers.get("docker-content-digest"));
    },
    stop: () => oci.stop(),
  };
});
