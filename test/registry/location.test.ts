import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MvmError } from "../../src/core/errors.js";
import { describeLocation, parseRegistryUrl, resolveRegistry } from "../../src/registry/location.js";
import { openTransport } from "../../src/registry/open.js";
import { TRANSPORT_KINDS } from "../../src/registry/transports/index.js";
import { isCopier, isDigestAddressed } from "../../src/registry/transports/transport.js";

// Where a registry is, from the one list of registry kinds: every kind's URL parses to its own
// location, is described without credentials, and opens a transport with the abilities it declares.

const EXAMPLES: Record<string, { url: string; described: string }> = {
  file: { url: "file:///srv/templates", described: "file:///srv/templates" },
  s3: { url: "s3://team-bucket/mvm/dev", described: "s3://team-bucket/mvm/dev" },
  oci: { url: "oci://registry.example:5000/team", described: "oci://registry.example:5000/team" },
};

function usage(pattern: RegExp) {
  return (e: unknown) => e instanceof MvmError && e.kind === "usage" && pattern.test(e.message);
}

describe("registry locations", () => {
  test("every listed kind parses its URL into its own location and describes it back", () => {
    assert.deepEqual(TRANSPORT_KINDS.map((k) => k.scheme).sort(), Object.keys(EXAMPLES).sort());
    for (const kind of TRANSPORT_KINDS) {
      const example = EXAMPLES[kind.scheme]!;
      const loc = parseRegistryUrl(example.url, {});
      assert.equal(loc.kind, kind.scheme);
      assert.equal(describeLocation(loc), example.described);
    }
  });

  test("an unknown scheme or a URL without one is refused, naming every kind there is", () => {
    assert.throws(
      () => parseRegistryUrl("ftp://host/x", {}),
      usage(/^unsupported registry scheme "ftp": use file:\/\/, s3:\/\/ or oci:\/\/$/),
    );
    assert.throws(
      () => parseRegistryUrl("registry.example/team", {}),
      usage(/: expected file:\/\/, s3:\/\/ or oci:\/\/$/),
    );
  });

  test("credentials in a URL are refused with the hint of that kind, and never shown", () => {
    const cases: [string, RegExp][] = [
      ["s3://AKIA:s3cret@bucket/x", /MVM_TEMPLATE_REGISTRY_ACCESS_KEY_ID/],
      ["oci://me:s3cret@host/repo", /MVM_OCI_USERNAME/],
      ["file://me:s3cret@/srv", /file:\/\/ registries need no credentials/],
    ];
    for (const [url, hint] of cases)
      assert.throws(
        () => parseRegistryUrl(url, {}),
        (e: unknown) =>
          e instanceof MvmError &&
          e.kind === "usage" &&
          !e.message.includes("s3cret") &&
          /holds credentials/.test(e.message) &&
          hint.test(e.hint ?? ""),
      );
  });

  test("flag, then MVM_TEMPLATE_REGISTRY, then the original's S3 variables, then the default directory", () => {
    const legacy = {
      MVM_TEMPLATE_REGISTRY_ENDPOINT: "https://s3.example",
      MVM_TEMPLATE_REGISTRY_BUCKET: "old-bucket",
      MVM_TEMPLATE_REGISTRY_ACCESS_KEY_ID: "id",
      MVM_TEMPLATE_REGISTRY_SECRET_ACCESS_KEY: "secret",
    };
    const env = { ...legacy, MVM_TEMPLATE_REGISTRY: "oci://host/repo" };
    assert.equal(resolveRegistry("file:///flag", "/default", env).kind, "file");
    assert.equal(resolveRegistry(undefined, "/default", env).kind, "oci");
    const fromLegacy = resolveRegistry(undefined, "/default", legacy);
    assert.equal(describeLocation(fromLegacy), "s3://old-bucket/mvm at https://s3.example");
    assert.deepEqual(resolveRegistry(undefined, "/default", {}), { kind: "file", root: "/default" });
  });

  test("each opened transport has exactly the optional abilities of its kind", async () => {
    const want: Record<string, { copier: boolean; digests: boolean }> = {
      file: { copier: true, digests: false },
      s3: { copier: true, digests: false },
      oci: { copier: false, digests: true },
    };
    for (const kind of TRANSPORT_KINDS) {
      const t = await openTransport(parseRegistryUrl(EXAMPLES[kind.scheme]!.url, {}));
      try {
        assert.equal(t.kind, kind.scheme);
        assert.deepEqual({ copier: isCopier(t), digests: isDigestAddressed(t) }, want[kind.scheme]);
      } finally {
        await t.close();
      }
    }
  });
});
