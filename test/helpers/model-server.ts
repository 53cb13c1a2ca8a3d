import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

// A model server on 127.0.0.1 that speaks the OpenAI wire formats the planners use (Responses API and
// chat completions) over a real socket, replying from a script so each test decides what the "model"
// does: answer, break the schema, fail, or hang.

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
  json: Record<string, unknown>;
}

export type Reply =
  | { status?: number; json?: unknown; text?: string; headers?: Record<string, string> }
  | { hang: "before-headers" | "mid-body" };

export type Script = (req: SeenRequest, index: number) => Reply;

export interface ModelServer {
  url: string;
  requests: SeenRequest[];
  close(): Promise<void>;
}

/** A Responses API reply whose output holds `plan` as structured output text. */
export function responsesReply(plan: unknown): Reply {
  const text = typeof plan === "string" ? plan : JSON.stringify(plan);
  return {
    json: {
      id: "resp_test",
      object: "response",
      status: "completed",
      output: [
        { type: "reasoning", id: "rs_1", summary: [] },
        {
          type: "message",
          id: "msg_1",
          role: "assistant",
          status: "completed",
          content: [{ type: "output_text", text, annotations: [] }],
        },
      ],
    },
  };
}

/** A chat-completions reply whose first choice holds `plan` as its message content. */
export function chatReply(plan: unknown): Reply {
  return {
    json: {
      id: "chatcmpl-test",
      object: "chat.completion",
      choices: [
        { index: 0, finish_reason: "stop", message: { role: "assistant", content: JSON.stringify(plan) } },
      ],
    },
  };
}

export async function startModelServer(script: Script): Promise<ModelServer> {
  const requests: SeenRequest[] = [];
  const hanging = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      let json: Record<string, unknown> = {};
      try {
        json = JSON.parse(body) as Record<string, unknown>;
      } catch {
        // Recorded as-is; the test asserts on it.
      }
      const seen = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body, json };
      requests.push(seen);
      const reply = script(seen, requests.length - 1);
      if ("hang" in reply) {
        hanging.add(res);
        if (reply.hang === "mid-body") {
          res.writeHead(200, { "content-type": "application/json" });
          res.write('{"output": [');
        }
        return;
      }
      const text = reply.text ?? JSON.stringify(reply.json ?? {});
      res.writeHead(reply.status ?? 200, { "content-type": "application/json", ...reply.headers });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: async () => {
      for (const r of hanging) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
