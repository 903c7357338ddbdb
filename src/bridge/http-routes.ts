/**
 * The bridge's plain HTTP side: a table of routes by method and path, and the
 * one parser of request targets, used by both requests and WebSocket upgrades.
 *
 * A request target is untrusted input: one that does not parse (`//`,
 * `http://[::1`, a port over 65535) is answered 400, and a handler that throws
 * is answered 500 and logged; neither ever reaches the process's
 * uncaught-exception handler.
 */
import http from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";

export type RouteHandler = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => void | Promise<void>;

/**
 * The URL of a request target, or undefined when it is not one. Origin-form
 * targets (`/path?query`) are read against a fixed base, so a target can never
 * name another host; absolute-form (`http://host/path`) keeps only its path
 * and query for routing.
 */
export function parseRequestTarget(target: string | undefined): URL | undefined {
  if (!target) return undefined;
  try {
    if (target.startsWith("/")) return new URL(`http://bridge${target}`);
    if (/^https?:\/\//i.test(target)) return new URL(target);
  } catch {
    // not a URL: the caller answers 400
  }
  return undefined;
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) }).end(text);
}

/** Answers an upgrade request with a plain HTTP error and closes the socket. */
export function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  const body = JSON.stringify({ error: reason });
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export class HttpRoutes {
  /** path -> method -> handler */
  private readonly routes = new Map<string, Map<string, RouteHandler>>();

  constructor(private readonly log: () => Logger) {}

  /** Adds a route; a second handler for the same method and path is a programming error. */
  add(method: string, path: string, handler: RouteHandler): this {
    let byMethod = this.routes.get(path);
    if (!byMethod) this.routes.set(path, (byMethod = new Map()));
    const m = method.toUpperCase();
    if (byMethod.has(m)) throw new Error(`route ${m} ${path} is already defined`);
    byMethod.set(m, handler);
    return this;
  }

  /** The request listener of the bridge's HTTP server. */
  readonly handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const url = parseRequestTarget(req.url);
    if (!url) return sendJson(res, 400, { error: "bad request target" });
    const byMethod = this.routes.get(url.pathname);
    if (!byMethod) return sendJson(res, 404, { error: "not found" });
    const handler = byMethod.get(req.method ?? "GET") ?? (req.method === "HEAD" ? byMethod.get("GET") : undefined);
    if (!handler) {
      res.setHeader("Allow", [...byMethod.keys()].join(", "));
      return sendJson(res, 405, { error: "method not allowed" });
    }
    const fail = (err: unknown) => {
      this.log().error({ err, path: url.pathname }, "HTTP handler failed");
      if (!res.headersSent) sendJson(res, 500, { error: "internal error" });
      else res.destroy();
    };
    try {
      const done = handler(req, res, url);
      if (done instanceof Promise) done.catch(fail);
    } catch (err) {
      fail(err);
    }
  };
}

/**
 * Routes with parameters (`/runs/:id/events`), for the bridge's REST APIs (job registry, run
 * tracking). Paths are matched after percent-decoding; a trailing slash is optional.
 */
export class PatternRoutes<H> {
  private readonly routes: Array<{ method: string; re: RegExp; handler: H }> = [];

  add(method: string, path: string, handler: H): void {
    this.routes.push({ method, re: new RegExp(`^${path.replace(/:\w+/g, "([^/]+)")}/?$`), handler });
  }

  /** The handler and its captured parameters; "method" when the path exists under other methods only; undefined when no route has it. */
  match(method: string | undefined, path: string): { handler: H; params: string[] } | "method" | undefined {
    let pathKnown = false;
    for (const r of this.routes) {
      const m = r.re.exec(path);
      if (!m) continue;
      if (r.method === method) return { handler: r.handler, params: m.slice(1) };
      pathKnown = true;
    }
    return pathKnown ? "method" : undefined;
  }
}
