import type { IncomingMessage, ServerResponse } from "node:http";

// The API's routes, one table: the server dispatches from it and the OpenAPI test compares it with
// the checked-in document. Patterns use OpenAPI's `{param}` syntax.

export type Handler = (
  req: IncomingMessage,
  res: ServerResponse,
  params: Record<string, string>,
  query: URLSearchParams,
) => Promise<void>;

export interface Route {
  method: "GET" | "POST" | "PUT" | "DELETE";
  path: string;
  /** Answered without an API key (health probes). */
  public?: boolean;
  handler: Handler;
}

export function matchPath(pattern: string, path: string): Record<string, string> | undefined {
  const want = pattern.split("/");
  const got = path.split("/");
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i] as string;
    const g = got[i] as string;
    if (w.startsWith("{") && w.endsWith("}")) {
      if (!g) return undefined;
      let value: string;
      try {
        value = decodeURIComponent(g);
      } catch {
        return undefined;
      }
      params[w.slice(1, -1)] = value;
    } else if (w !== g) return undefined;
  }
  return params;
}

/** The route for a request, or why there is none (404 for no such path, 405 for another method). */
export function findRoute(
  routes: readonly Route[],
  method: string,
  path: string,
): { route: Route; params: Record<string, string> } | { miss: 404 | 405 } {
  let pathKnown = false;
  for (const route of routes) {
    const params = matchPath(route.path, path);
    if (!params) continue;
    pathKnown = true;
    if (route.method === method) return { route, params };
  }
  return { miss: pathKnown ? 405 : 404 };
}
