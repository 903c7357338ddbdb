/**
 * A TCP relay in front of a server that a test can cut, as a network drop
 * does: every connection through it is destroyed at once, and new ones pass
 * again. Lets a test drop a client's connection without reaching into the
 * server.
 */
import { createConnection, createServer, type Socket } from "node:net";

export interface CuttableRelay {
  readonly port: number;
  /** Destroys every connection through the relay (both sides). */
  cut(): void;
  close(): Promise<void>;
}

export async function cuttableRelay(targetPort: number, host = "127.0.0.1"): Promise<CuttableRelay> {
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  };
  const server = createServer((client) => {
    const upstream = createConnection({ port: targetPort, host });
    track(client);
    track(upstream);
    client.pipe(upstream).pipe(client);
    // Either side going away ends the other.
    client.once("error", () => upstream.destroy()).once("close", () => upstream.destroy());
    upstream.once("error", () => client.destroy()).once("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as { port: number };
  return {
    port,
    cut: () => {
      for (const s of sockets) s.destroy();
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
