import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { buildChatRequest, parseChatBody } from "../../../src/scaffold/planners/chat-completions.js";
import { normaliseBaseUrl, selectPlanner } from "../../../src/scaffold/planners/config.js";
import { buildResponsesRequest, parseResponsesBody } from "../../../src/scaffold/planners/responses-api.js";

// The two OpenAI reply shapes, parsed without a server: the variants a server may send.

const PLAN = { schema_version: 1, summary: "s" };

describe("wire formats", () => {
  test("Responses API: output_text shortcut, first output_text part, refusal, missing output", () => {
    assert.deepEqual(parseResponsesBody(JSON.stringify({ output_text: JSON.stringify(PLAN) }), "t"), PLAN);
    const body = {
      output: [
        { type: "reasoning", summary: [] },
        { type: "message", content: [{ type: "output_text", text: JSON.stringify(PLAN) }] },
      ],
    };
    assert.deepEqual(parseResponsesBody(JSON.stringify(body), "t"), PLAN);
    const refusal = { output: [{ type: "message", content: [{ type: "refusal", refusal: "no" }] }] };
    assert.throws(() => parseResponsesBody(JSON.stringify(refusal), "t"), /: t: the model refused: no$/);
    assert.throws(() => parseResponsesBody("{}", "t"), /no output array/);
    assert.throws(() => parseResponsesBody('{"output": []}', "t"), /did not include structured output text/);
    assert.throws(() => parseResponsesBody("<html>", "t"), /reply is not valid JSON/);
  });

  test("chat completions: content, fenced content, refusal, no choices", () => {
    const reply = (message: unknown) => JSON.stringify({ choices: [{ message }] });
    assert.deepEqual(parseChatBody(reply({ content: JSON.stringify(PLAN) }), "t"), PLAN);
    assert.deepEqual(
      parseChatBody(reply({ content: `\`\`\`json\n${JSON.stringify(PLAN)}\n\`\`\`` }), "t"),
      PLAN,
    );
    assert.throws(() => parseChatBody(reply({ content: null, refusal: "nope" }), "t"), /refused: nope/);
    assert.throws(() => parseChatBody('{"choices": []}', "t"), /no choices/);
    assert.throws(() => parseChatBody(reply({ content: "sure! {" }), "t"), /not valid JSON/);
  });

  test("requests carry the model, both messages and a strict schema", () => {
    const r = buildResponsesRequest("m", "demo", "http", "a web thing");
    const input = r.input as { role: string; content: { text: string }[] }[];
    assert.deepEqual(
      input.map((i) => i.role),
      ["system", "user"],
    );
    assert.match(
      input[1]!.content[0]!.text,
      /^Template name: demo\nExplicit preset override: http\nPrompt: a web thing\n\n/,
    );
    const c = buildChatRequest("m", "demo", undefined, "p");
    assert.equal((c.response_format as { type: string }).type, "json_schema");
  });

  test("base URLs: trailing slash and /v1 are dropped; other schemes are refused", () => {
    assert.equal(normaliseBaseUrl("https://api.example.com/v1/", "x"), "https://api.example.com");
    assert.equal(normaliseBaseUrl("http://127.0.0.1:8080", "x"), "http://127.0.0.1:8080");
    assert.equal(normaliseBaseUrl("http://host/proxy/openai/v1", "x"), "http://host/proxy/openai");
    assert.throws(() => normaliseBaseUrl("file:///etc", "x"), /http:\/\/ or https:\/\//);
    assert.throws(() => normaliseBaseUrl("not a url", "x"), /not a URL/);
  });

  test("provider selection: an empty key does not select OpenAI; auto prefers OpenAI, then local", () => {
    assert.deepEqual(selectPlanner(undefined, { OPENAI_API_KEY: "" }), { kind: "heuristic" });
    const both = selectPlanner(undefined, { OPENAI_API_KEY: "k", LOCALAI_BASE_URL: "http://l" });
    assert.equal(both.kind === "llm" && both.config.provider, "openai");
    assert.equal(both.kind === "llm" && both.explicit, false);
    const local = selectPlanner(undefined, { LOCALAI_BASE_URL: "http://l/v1", LOCALAI_MODEL: "q" });
    assert.deepEqual(
      local.kind === "llm" && [local.config.baseUrl, local.config.model, local.config.apiKey],
      ["http://l", "q", undefined],
    );
    const openai = selectPlanner("openai", { OPENAI_API_KEY: "k", MVM_TEMPLATE_LLM_TIMEOUT_MS: "1500" });
    assert.deepEqual(
      openai.kind === "llm" && [openai.config.baseUrl, openai.config.model, openai.config.timeoutMs],
      ["https://api.openai.com", "gpt-5.2", 1500],
    );
    assert.throws(
      () => selectPlanner(undefined, { MVM_TEMPLATE_LLM_TIMEOUT_MS: "soon", OPENAI_API_KEY: "k" }),
      /MVM_TEMPLATE_LLM_TIMEOUT_MS/,
    );
  });
});
