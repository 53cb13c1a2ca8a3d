import { connect, createServer, type Server, type Socket } from "node:net";

// A real TCP proxy in front of a registry that drops connections mid-transfer: the first `faults`
// connections that carry more than `afterBytes` (either direction) are cut, like a flaky network.

export interface FaultyProxy {
  port: number;
  /** Connections cut so far. */
  cuts(): number;
  /** Bytes moved through the proxy so far, both directions. */
  bytes(): number;
  /** HTTP request lines seen from clients ("PUT /bucket/key?partNumber=2&uploadId=… HTTP/1.1"). */
  requests: string[];
  setFaults(n: number): void;
  close(): Promise<void>;
}

export async function startFaultyProxy(
  upstreamPort: number,
  afterBytes: number,
  faults: number,
): Promise<FaultyProxy> {
  let left = faults;
  let cut = 0;
  let total = 0;
  const requests: string[] = [];
  const REQUEST_LINE = /(?:^|\r\n)((?:GET|PUT|POST|PATCH|HEAD|DELETE) \S+ HTTP\/1\.1)\r\n/g;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(upstreamPort, "127.0.0.1");
    sockets.add(client);
    sockets.add(upstream);
    let moved = 0;
    const count = (n: number) => {
      moved += n;
      total += n;
      if (left > 0 && moved > afterBytes) {
        left--;
        cut++;
        client.destroy();
        upstream.destroy();
      }
    };
    client.on("data", (d: Buffer) => {
      for (const m of d.toString("latin1").matchAll(REQUEST_LINE)) requests.push(m[1]!);
      count(d.length);
      if (!upstream.destroyed) upstream.write(d);
    });
    upstream.on("data", (d: Buffer) => {
      count(d.length);
      if (!client.destroyed) client.write(d);
    });
    client.on("end", () => upstream.end());
    upstream.on("end", () => client.end());
    for (const s of [client, upstream])
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      }).on("close", () => sockets.delete(s));
  });
  await new Promise<void>((res) => server.listen(0, "127.0.0.1", res));
  const addr = server.address();
  return {
    port: typeof addr === "object" && addr ? addr.port : 0,
    cuts: () => cut,
    bytes: () => total,
    requests,
    setFaults(n) {
      left = n;
    },
    close: () =>
      new Promise((res) => {
        for (const s of sockets) s.destroy();
        server.close(() => res());
      }),
  };
}
