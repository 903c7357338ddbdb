/**
 * startDashboard: a dashboard of one's own runners on its own HTTP server,
 * as `tubular run FILE --dashboard` serves it (loopback, no key by default).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import pino from "pino";
import { TubularError } from "../../errors.ts";
import { ApiKeys } from "../auth.ts";
import { DashboardEndpoint } from "./endpoint.ts";
import { DashboardFeed, type RunSource, type WatchedRun } from "./feed.ts";
import type { TrackingSource } from "./tracking-feed.ts";

export interface DashboardOptions {
  /** The runs to show: a list, or a function read at every sample (runs may come and go). */
  runs: readonly WatchedRun[] | RunSource;
  /** Default 127.0.0.1. Another address needs `apiKeys`: the feed shows params and errors. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  apiKeys?: Iterable<string>;
  /** Sampling period while someone watches, ms. Default 1000. */
  intervalMs?: number;
  logger?: Logger;
  /** Run tracking's store: tracked runs and their metric plots (`tubular run --track --dashboard`). */
  tracking?: TrackingSource;
}

export interface Dashboard {
  readonly url: string;
  readonly port: number;
  /** Viewers connected now. */
  readonly viewerCount: number;
  close(): Promise<void>;
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

/**
 * Serves the dashboard of `runs` at `http://host:port/`. Rejects with
 * TUBULAR_ERR_AUTH when asked to listen beyond loopback without keys, and
 * with the listen error when the port is taken.
 *
 * @example
 * const runner = new ZmqRunner(tube);
 * const dash = await startDashboard({ runs: [{ id: "main", label: tube.id, kind: "zmq", tube, runner }] });
 * console.log(dash.url);
 */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const host = options.host ?? "127.0.0.1";
  const keys = options.apiKeys ? new ApiKeys(options.apiKeys) : undefined;
  if (!LOOPBACK.has(host) && (!keys || keys.size === 0)) {
    throw new TubularError("TUBULAR_ERR_AUTH", `a dashboard on ${host} (beyond loopback) needs API keys`);
  }
  const log = options.logger ?? pino({ name: "tubular", level: process.env.TUBULAR_LOG_LEVEL ?? "warn" });
  const runs = options.runs;
  const feed = new DashboardFeed({ runs: typeof runs === "function" ? runs : () => runs, ...(options.intervalMs ? { intervalMs: options.intervalMs } : {}), ...(options.tracking ? { tracking: options.tracking } : {}), log });
  const endpoint = new DashboardEndpoint({ feed, mode: keys ? "serve" : "run", ...(keys && keys.size > 0 ? { keys } : {}), log });
  const server = http.createServer((req, res) => {
    if (endpoint.handleRequest(req, res)) return;
    res.writeHead(404, { "Content-Type": "application/json" }).end(JSON.stringify({ error: "not found" }));
  });
  server.on("upgrade", (req, socket, head) => {
    if (!endpoint.handleUpgrade(req, socket, head)) socket.end("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  feed.sync();
  const port = (server.address() as AddressInfo).port;
  const shown = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/`,
    port,
    get viewerCount() {
      return endpoint.viewerCount;
    },
    async close() {
      endpoint.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
