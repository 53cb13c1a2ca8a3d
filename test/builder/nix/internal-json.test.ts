import assert from "node:assert/strict";
import { test } from "node:test";
import { NixLogParser } from "../../../src/builder/nix/internal-json.js";

test("internal-json: build start, log lines with the derivation's name, errors without colour", () => {
  const p = new NixLogParser();
  const start = p.parseLine(
    '@nix {"action":"start","fields":["/nix/store/fbisp2hw1k1hyq81lbkyvkdpk47n222a-t5.drv","",1,1],"id":7,"level":3,"text":"building \'x\'","type":105}',
  );
  assert.deepEqual(start, {
    kind: "build-start",
    id: 7,
    drv: "/nix/store/fbisp2hw1k1hyq81lbkyvkdpk47n222a-t5.drv",
    name: "t5",
    text: "building 'x'",
  });
  assert.deepEqual(p.parseLine('@nix {"action":"result","fields":["oops"],"id":7,"type":101}'), {
    kind: "log",
    id: 7,
    name: "t5",
    line: "oops",
  });
  assert.deepEqual(
    p.parseLine(
      '@nix {"action":"msg","level":0,"msg":"\\u001b[31;1merror:\\u001b[0m bad \\u001b[35;1mthing\\u001b[0m"}',
    ),
    { kind: "message", level: 0, text: "error: bad thing" },
  );
  assert.deepEqual(p.parseLine("@nix {not json"), { kind: "raw", text: "@nix {not json" });
  assert.equal(p.parseLine(""), undefined);
});
