/**
 * DashboardEndpoint: the dashboard's HTTP side on a server someone else owns
 * (the bridge's, or the one `startDashboard` makes): the page's static files
 * and one WebSocket, `/ws/v0/dashboard`, carrying the live feed.
 *
 * With API keys, the browser's first message must be `{"type":"auth","key":..}`
 * (a browser cannot set an Authorization header on a WebSocket); a wrong key
 * closes the socket with 4401, a malformed message with 4400, silence with
 * 4408 after `authTimeoutMs`. Nothing but `hello` is sent before a good key.
 * A browser's upgrade must come from the page's own origin, so another site
 * open in the same browser cannot read a keyless (loopback) dashboard.
 */
import type http from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import { WebSocketServer, type WebSocket } from "ws";
import type { ApiKeys } from "../auth.ts";
import type { DashboardFeed } from "./feed.ts";
import { ClientMessage, CLOSE_BAD_KEY, CLOSE_BAD_MESSAGE, DASHBOARD_WS_PATH, FEED_VERSION, type ServerMessage } from "./messages.ts";
import { StaticFiles } from "./static-files.ts";
import { parseRequestTarget } from "../http-routes.ts";

export interface DashboardEndpointOptions {
  feed: DashboardFeed;
  mode: "serve" | "run";
  /** Keys a viewer must give; undefined: none asked (loopback `tubular run --dashboard`). */
  keys?: ApiKeys;
  log: Logger;
  /** Viewers at once. Default 100. */
  maxViewers?: number;
  authTimeoutMs?: number;
  staticFiles?: StaticFiles;
}

const CLOSE_AUTH_TIMEOUT = 4408;

function refuse(socket: Duplex, status: number, reason: string): void {
  const body = JSON.stringify({ error: reason });
  socket.end(`HTTP/1.1 ${status} ${status === 403 ? "Forbidden" : "Service Unavailable"}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

/** A browser's Origin must name the host it asked (same origin); clients without Origin are not browsers. */
function sameOrigin(req: http.IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

export class DashboardEndpoint {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 8192, perMessageDeflate: false });
  private readonly sockets = new Set<WebSocket>();
  private readonly files: StaticFiles;
  private readonly log: Logger;
  /** Malformed first messages and refused keys, for the logs and tests. */
  readonly refused = { badKey: 0, badMessage: 0, origin: 0 };

  constructor(private readonly options: DashboardEndpointOptions) {
    this.files = options.staticFiles ?? new StaticFiles();
    this.log = options.log.child({ component: "dashboard" });
  }

  get viewerCount(): number {
    return this.options.feed.viewerCount;
  }

  /** Serves the page; false when the request is not the dashboard's. */
  handleRequest(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    return this.files.handle(req, res);
  }

  /** Takes the feed's WebSocket upgrade; false when the path is not the dashboard's. */
  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const pathname = parseRequestTarget(req.url)?.pathname;
    if (pathname === undefined) return false;
    if (pathname !== DASHBOARD_WS_PATH) return false;
    socket.on("error", () => undefined);
    if (!sameOrigin(req)) {
      this.refused.origin++;
      this.log.info({ origin: req.headers.origin }, "dashboard connection from another origin refused");
      refuse(socket, 403, "the dashboard's feed is for its own page only");
      return true;
    }
    if (this.sockets.size >= (this.options.maxViewers ?? 100)) {
      refuse(socket, 503, "too many dashboard viewers");
      return true;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.connect(ws));
    return true;
  }

  private connect(ws: WebSocket): void {
    this.sockets.add(ws);
    const send = (m: ServerMessage) => ws.send(JSON.stringify(m));
    const keys = this.options.keys;
    const feed = this.options.feed;
    send({ type: "hello", version: FEED_VERSION, mode: this.options.mode, auth: keys !== undefined, jobs: feed.hasJobs, tracking: feed.hasTracking });
    let remove: (() => void) | undefined;
    const viewer = { principal: undefined as string | undefined, send: (text: string) => ws.send(text), buffered: () => ws.bufferedAmount };
    const watch = (principal: string | undefined) => {
      viewer.principal = principal;
      remove = feed.addViewer(viewer);
    };
    /** A watching viewer's messages: the runs it plots; anything else is refused, counted, and closes the feed. */
    const afterAuth = (data: unknown) => {
      let parsed: ReturnType<typeof ClientMessage.safeParse>;
      try {
        parsed = ClientMessage.safeParse(JSON.parse(String(data)));
      } catch {
        parsed = ClientMessage.safeParse(undefined);
      }
      if (parsed.success && parsed.data.type === "chooseRuns") return feed.choose(viewer, parsed.data.runs);
      if (parsed.success) return; // a second auth changes nothing
      this.refused.badMessage++;
      this.log.info("malformed message on the dashboard feed; closing");
      ws.close(CLOSE_BAD_MESSAGE, "malformed message");
    };
    let timer: NodeJS.Timeout | undefined;
    ws.on("close", () => {
      if (timer) clearTimeout(timer);
      this.sockets.delete(ws);
      remove?.();
    });
    ws.on("error", (err) => this.log.debug({ err: err.message }, "dashboard connection error"));
    if (!keys) {
      ws.on("message", afterAuth);
      watch(undefined);
      return;
    }
    timer = setTimeout(() => ws.close(CLOSE_AUTH_TIMEOUT, "no key given in time"), this.options.authTimeoutMs ?? 10_000);
    timer.unref();
    ws.on("message", (data) => {
      if (remove) return afterAuth(data);
      let parsed: ReturnType<typeof ClientMessage.safeParse>;
      try {
        parsed = ClientMessage.safeParse(JSON.parse(data.toString()));
      } catch {
        parsed = ClientMessage.safeParse(undefined);
      }
      clearTimeout(timer);
      if (!parsed.success || parsed.data.type !== "auth") {
        this.refused.badMessage++;
        this.log.info("malformed first message on the dashboard feed; closing");
        ws.close(CLOSE_BAD_MESSAGE, "expected {\"type\":\"auth\",\"key\":...}");
        return;
      }
      const principal = keys.check(parsed.data.key);
      if (!principal) {
        this.refused.badKey++;
        this.log.info("unknown API key refused on the dashboard feed");
        ws.close(CLOSE_BAD_KEY, "unknown API key");
        return;
      }
      watch(principal);
    });
  }

  close(): void {
    for (const ws of this.sockets) ws.close(1001, "server closing");
    this.sockets.clear();
    this.wss.close();
    this.options.feed.close();
  }
}
