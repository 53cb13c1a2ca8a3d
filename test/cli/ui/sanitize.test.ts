import assert from "node:assert/strict";
import { test } from "node:test";
import { rememberSecret } from "../../../src/core/secrets.js";
import { ConsoleSanitizer, MAX_MESSAGE_LINE, sanitize } from "../../../src/cli/ui/sanitize.js";

// The output sanitiser on its own: what a terminal would act on is shown escaped, lines are capped,
// secrets are masked, and a console stream split anywhere reads the same as in one piece.

test("sanitize shows escape sequences, C1 controls, bidi overrides and line breaks escaped", () => {
  const hostile = "ok\u001b]0;title\u0007\u001b[2J\u009b31m\u202efake\r\nnext\ttab\u0000";
  assert.equal(sanitize(hostile), "ok\\x1b]0;title\\x07\\x1b[2J\\u009b31m\\u202efake\\r\\nnext\\ttab\\x00");
  assert.equal(sanitize("plain text, ünïcödé and emoji 🙂"), "plain text, ünïcödé and emoji 🙂");
});

test("sanitize caps a 250 KB line, keeping its beginning and its end", () => {
  const out = sanitize(`${"A".repeat(250_000)}: the reason`);
  assert.ok(out.length < MAX_MESSAGE_LINE + 40, `${out.length} characters`);
  const m = /^(A+) … \[(\d+) characters cut\] … (A+): the reason$/.exec(out);
  assert.ok(m, out);
  assert.equal((m[1] as string).length + Number(m[2]) + (m[3] as string).length, 250_000);
});

test("sanitize masks remembered secrets and credential shapes", () => {
  rememberSecret("no-shape-secret-42");
  const out = sanitize(
    "key no-shape-secret-42, Authorization: Bearer abc123def456, url https://u:p4ss@host/x, sk-abcdefghijklmnopqrstu",
  );
  assert.equal(out, "key ***, Authorization: Bearer ***, url https://***@host/x, sk-***");
  // A challenge is not a credential, and a bare user name in a URL is not a secret.
  assert.equal(
    sanitize('Basic realm="registry" git+ssh://git@host/r'),
    'Basic realm="registry" git+ssh://git@host/r',
  );
});

test("ConsoleSanitizer keeps line breaks, escapes controls and cuts long lines, whatever the chunking", () => {
  const raw = Buffer.from(`boot\r\n\u001b[31mred\u001b[0m €uro\n${"x".repeat(50)}\nlast\rline`, "utf8");
  const expected = `boot\n\\x1b[31mred\\x1b[0m €uro\n${"x".repeat(30)}… [20 more characters]\nlast\\rline`;
  const whole = new ConsoleSanitizer(30);
  assert.equal(whole.push(raw) + whole.end(), expected);
  // One byte at a time: CR and LF in different chunks, the euro sign split inside its UTF-8 bytes.
  const bytes = new ConsoleSanitizer(30);
  let out = "";
  for (const b of raw) out += bytes.push(Buffer.from([b]));
  assert.equal(out + bytes.end(), expected);
});
