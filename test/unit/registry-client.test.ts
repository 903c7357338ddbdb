/**
 * The job registry's HTTP client: one kept-alive connection for many
 * requests (a new connection, or fetch's machinery, per request cost more CPU
 * than the request), a connection the server closed while idle is replaced
 * without the caller seeing it, and errors keep their statuses.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { RegistryClient, RegistryRequestError } from "../../src/bridge/registry/client.ts";
import { until } from "../helpers/until.ts";

let server: http.Server | undefined;
let client: RegistryClient | undefined;

afterEach(async () => {
  client?.close();
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

/** A server answering every request with its method, path and body, counting connections. */
async function echoServer(keepAliveTimeout = 5000): Promise<{ url: string; connections: () => number; closed: () => number }> {
  let connections = 0;
  let closed = 0;
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.url === "/missing") {
        res.writeHead(404, { "Content-Type": "application/json" }).end(JSON.stringify({ detail: "no such run" }));
        return;
      }
      const body = Buffer.concat(chunks).toString("utf8");
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ method: req.method, url: req.url, key: req.headers["x-api-key"], body: body ? JSON.parse(body) : null }));
    });
  });
  server.keepAliveTimeout = keepAliveTimeout;
  server.on("connection", (socket) => {
    connections++;
    socket.on("close", () => closed++);
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections: () => connections, closed: () => closed };
}

describe("registry client", () => {
  it("sends many requests over one kept-alive connection, with the key, path, query and body", async () => {
    const s = await echoServer();
    client = new RegistryClient({ url: s.url, apiKey: "k1" });
    for (let i = 0; i < 20; i++) {
      const r = await client.request<{ method: string; url: string; key: string; body: unknown }>("POST", "/runs/r1/events", { type: "INFO", msg: `e${i}` }, { after: i });
      expect(r).toEqual({ method: "POST", url: `/runs/r1/events?after=${i}`, key: "k1", body: { type: "INFO", msg: `e${i}` } });
    }
    expect(s.connections()).toBe(1);
  });

  it("a connection the server closed while idle is replaced; the caller only sees answers", async () => {
    const s = await echoServer(50);
    client = new RegistryClient({ url: s.url, apiKey: "k" });
    for (let i = 0; i < 3; i++) {
      await client.request("GET", "/workers");
      // Past the server's keep-alive timeout it closes the idle connection; the next request must not fail.
      await until(() => s.closed() === i + 1, 5000, `the server closing idle connection ${i + 1}`);
    }
    expect(s.connections()).toBe(3);
  });

  it("errors: the server's status and detail; no server is status 0; a URL that is not http(s) is refused at once", async () => {
    const s = await echoServer();
    client = new RegistryClient({ url: s.url, apiKey: "k" });
    const err = await client.request("GET", "/missing").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryRequestError);
    expect(err).toMatchObject({ status: 404, code: "TUBULAR_ERR_REGISTRY_NOT_FOUND" });
    expect((err as Error).message).toContain("no such run");
    const port = (server!.address() as AddressInfo).port;
    client.close();
    server!.closeAllConnections();
    await new Promise<void>((r) => server!.close(() => r()));
    server = undefined;
    const gone = new RegistryClient({ url: `http://127.0.0.1:${port}`, apiKey: "k" });
    await expect(gone.request("GET", "/workers")).rejects.toMatchObject({ status: 0, code: "TUBULAR_ERR_REGISTRY_UNREACHABLE" });
    gone.close();
    expect(() => new RegistryClient({ url: "ftp://x", apiKey: "k" })).toThrow(/not http/);
  });
});
