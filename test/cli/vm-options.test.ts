import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { parsePort, parseReadyTimeout } from "../../src/cli/vm-options.js";
import { cliFor } from "../helpers/scratch.js";
import { tempDir } from "../helpers/cli.js";

describe("VM option parsing", () => {
  test("-p HOST:GUEST and ADDR:HOST:GUEST; bad values are usage errors", () => {
    assert.deepEqual(parsePort("8080:80"), [{ host: 8080, guest: 80 }]);
    assert.deepEqual(parsePort("0.0.0.0:8080:80"), [{ host: 8080, guest: 80, hostAddress: "0.0.0.0" }]);
    for (const bad of ["80", "0:80", "70000:80", "a:b", "300.1.1.1:80:80", "8080:80;rm"])
      assert.throws(
        () => parsePort(bad),
        (e: Error & { kind?: string }) => e.kind === "usage",
        bad,
      );
    assert.throws(() => parsePort("8080:81", parsePort("8080:80")), /given twice/);
    assert.equal(parseReadyTimeout("30"), 30);
    assert.throws(() => parseReadyTimeout("0"), /ready-timeout/);
  });
});

describe("VM commands: bad input", () => {
  const data = tempDir("mvm-vm-usage-");
  mkdirSync(join(data, "templates"), { recursive: true });
  const cli = cliFor(data);

  test("usage errors exit 2 with one line; unknown names exit 1", async () => {
    for (const args of [
      ["up"],
      ["up", "--template", "web", "-p", "99999:80"],
      ["up", "--template", "Bad Name"],
      ["up", "--template", "web", "--hypervisor", "vmware"],
      ["up", "--template", "web", "--ready-timeout", "-1"],
      ["down"],
      ["down", "x", "--all"],
    ]) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(
        r.stderr
          .trim()
          .split("\n")
          .filter((l) => l.startsWith("error:")).length,
        1,
        r.stderr,
      );
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    }
    const missing = await cli(["up", "--template", "nosuch", "-d"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^error: template nosuch does not exist/m, missing.stderr);
    const down = await cli(["down", "nosuch"]);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /^error: no VM named nosuch/m);
    const logs = await cli(["logs", "nosuch"]);
    assert.equal(logs.code, 1);
    const ls = await cli(["ls", "--json"]);
    assert.equal(ls.code, 0);
    assert.deepEqual(JSON.parse(ls.stdout), []);
  });
});
