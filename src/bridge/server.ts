/**
 * BridgeServer: one HTTP server whose WebSocket endpoint `/ws/v0/rpc/` speaks
 * JSON-RPC 2.0 over tubular's runtime, wire-compatible with the reference
 * client.
 *
 * - The API key is checked at the upgrade (`Authorization: Api-Key <key>` or
 *   `Bearer <key>`); a missing or unknown key gets HTTP 401 and no session.
 * - The first frame is `{"jsonrpc":"2.0","id":null,"result":{"session_id":..}}`.
 *   A client reconnecting with the same key and `X-Tubular-Session: <id>`
 *   within the grace period takes its session back.
 * - Limits, each disconnecting only the client that breaks it: frame size
 *   (close 1009), calls in flight per session (OVERLOADED replies), bad
 *   messages per window (close 1008), silence (idle timeout, close 1001
 *   "idle"), no pong (dropped as dead), replies the client does not read
 *   (reading stops at half the send buffer bound, the connection is dropped
 *   over it), reply size (RESULT_TOO_LARGE).
 * - Plain HTTP requests go through one route table (`routes`), to which other
 *   parts of the bridge add their routes.
 */
import type { Tracker } from "./tracking/tracker.ts";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import pino, { type Logger } from "pino";
import { WebSocketServer, type WebSocket } from "ws";
import { TubularError } from "../errors.ts";
import { ApiKeys, digestKey, keyFromHeader, randomToken } from "./auth.ts";
import { HttpRoutes, parseRequestTarget, refuseUpgrade, sendJson } from "./http-routes.ts";
import { encode, JSONRPC } from "./jsonrpc.ts";
import { compileMethods, methods, type BridgeServices } from "./methods.ts";
import { openRpcDocument } from "./openrpc.ts";
import { JsonRpcPeer, type BadFrameKind } from "./peer.ts";
import { Session } from "./session.ts";
import { DashboardEndpoint } from "./dashboard/endpoint.ts";
import { DashboardFeed } from "./dashboard/feed.ts";
import type { JobsSource } from "./dashboard/jobs-feed.ts";
import type { TrackingSource } from "./dashboard/tracking-feed.ts";
import { sessionRuns } from "./dashboard/session-runs.ts";

export const RPC_PATH = "/ws/v0/rpc/";

export interface BridgeLimits {
  /** Largest frame accepted, in bytes; a larger one closes the connection (1009). Default 1 MiB. */
  maxFrameBytes: number;
  /** Calls one session may have in flight; more get OVERLOADED (-32004). Default 64. */
  maxInflightPerSession: number;
  /** Messages in one batch. Default 100. */
  maxBatch: number;
  /** Bad messages (parse errors, invalid requests, unknown methods, overload; each message of a batch counts) tolerated per 10 s before the connection is closed (1008). Default 50. */
  maxBadFrames: number;
  /**
   * Largest message the server sends, in bytes; a larger result is answered
   * with RESULT_TOO_LARGE (-32007). Default 1 MiB, the largest frame the
   * reference client's WebSocket library accepts by default.
   */
  maxReplyBytes: number;
  /**
   * Bytes queued for a client that does not read: over half of it the server
   * stops reading that client's frames until the queue drains to a quarter;
   * over all of it the connection is dropped. Events are dropped (and
   * counted) over a quarter of it. Default 16 MiB.
   */
  maxBufferedBytes: number;
  /** A connection that sends nothing and has no call in flight for this long is closed. Default 10 min. */
  idleTimeoutMs: number;
  /** A connection that answers no ping for this long is dropped as dead. Default 45 s. */
  deadPeerMs: number;
  /** How long a session outlives its socket, waiting for the client to come back. Default 30 s. */
  sessionGraceMs: number;
  /** Sessions at once. Default 1000. */
  maxSessions: number;
}

export interface BridgeOptions extends Partial<BridgeLimits> {
  host?: string;
  port?: number;
  apiKeys?: Iterable<string>;
  /** Graph files `tube.load { path }` may name live here. */
  graphsDir?: string;
  /** Let inline graphs name module node types. Default false. */
  allowInlineModules?: boolean;
  /** Heartbeat interval for long calls, ms. Default 2000 (at most 3 s between two). */
  heartbeatIntervalMs?: number;
  /** How long a client has to answer each create_node / create_edge, ms. Default 10 s. */
  mirrorTimeoutMs?: number;
  logger?: Logger;
  /** The job registry's store: the dashboard shows its runs and their events. */
  dashboardJobs?: JobsSource;
  /** Run tracking's store: the dashboard lists tracked runs and plots their metrics. */
  dashboardTracking?: TrackingSource;
  /** Plain HTTP requests go here first (the job registry); it returns false for paths it leaves to the bridge. */
  httpHandler?: (req: http.IncomingMessage, res: http.ServerResponse, keys: ApiKeys) => boolean;
  /** Run tracking over the server's store: `runner.init` with `track`, a known `run_uuid`, and the `tracking.*` methods. */
  tracker?: Tracker | undefined;
  /** WebSocket upgrades go here first (the worker registry's `/agent`); it returns false for paths it leaves to the bridge. */
  upgradeHandler?: (req: http.IncomingMessage, socket: Duplex, head: Buffer, keys: ApiKeys) => boolean;
}

const DEFAULT_LIMITS: BridgeLimits = {
  maxFrameBytes: 1024 * 1024,
  maxInflightPerSession: 64,
  maxBatch: 100,
  maxBadFrames: 50,
  maxReplyBytes: 1024 * 1024,
  maxBufferedBytes: 16 * 1024 * 1024,
  idleTimeoutMs: 10 * 60_000,
  deadPeerMs: 45_000,
  sessionGraceMs: 30_000,
  maxSessions: 1000,
};

const BAD_FRAME_WINDOW_MS = 10_000;
/** How long a connection we close for abuse may take to answer the close frame before it is dropped. */
const CLOSE_GRACE_MS = 1000;

interface Conn {
  ws: WebSocket;
  peer: JsonRpcPeer;
  session: Session;
  relay: boolean;
  lastMessage: number;
  lastPong: number;
  badFrames: number;
  badWindowStart: number;
  timer: NodeJS.Timeout;
  /** Set when we decided to close: frames still arriving are not read. */
  closing: boolean;
}

export class BridgeServer {
  private options: BridgeOptions;
  private limits: BridgeLimits = DEFAULT_LIMITS;
  private http: http.Server | undefined;
  private wss: WebSocketServer | undefined;
  private keys = new ApiKeys([]);
  private readonly sessions = new Map<string, Session>();
  /** relay token digest -> session */
  private readonly relays = new Map<string, Session>();
  private readonly conns = new Set<Conn>();
  private log: Logger;
  private services: BridgeServices | undefined;
  private address: { host: string; port: number } | undefined;
  private discoverDoc: unknown;
  /** The plain HTTP routes; other parts of the bridge add theirs before `start`. */
  readonly routes: HttpRoutes;
  private dashboard: DashboardEndpoint | undefined;

  constructor(options: BridgeOptions = {}) {
    this.options = options;
    this.log = (options.logger ?? pino({ name: "tubular", level: process.env.TUBULAR_LOG_LEVEL ?? "warn" })).child({ component: "bridge" });
    this.routes = new HttpRoutes(() => this.log).add("GET", "/health", (_req, res) => sendJson(res, 200, { ok: true }));
  }

  /** Sessions alive (attached or in their grace period). */
  get sessionCount(): number {
    return this.sessions.size;
  }

  get url(): string {
    if (!this.address) throw new TubularError("TUBULAR_ERR_RPC", "the bridge is not started");
    const h = this.address.host === "0.0.0.0" || this.address.host === "::" ? "127.0.0.1" : this.address.host;
    return `ws://${h.includes(":") ? `[${h}]` : h}:${this.address.port}${RPC_PATH}`;
  }

  /**
   * Listens on host:port (port 0 picks a free one) and resolves with the port.
   * Refuses to start without API keys.
   */
  async start(opts: BridgeOptions = {}): Promise<{ port: number; host: string; url: string }> {
    if (this.http) throw new TubularError("TUBULAR_ERR_RPC", "the bridge is already started");
    this.options = Object.freeze({ ...this.options, ...opts });
    const o = this.options;
    this.limits = Object.freeze({ ...DEFAULT_LIMITS, ...Object.fromEntries(Object.entries(o).filter(([k, v]) => k in DEFAULT_LIMITS && v !== undefined)) });
    this.keys = new ApiKeys(o.apiKeys ?? []);
    if (this.keys.size === 0) throw new TubularError("TUBULAR_ERR_AUTH", "the bridge needs at least one API key (--api-keys FILE or TUBULAR_API_KEYS)");
    if (o.logger) this.log = o.logger.child({ component: "bridge" });
    this.discoverDoc = openRpcDocument(methods);
    this.services = Object.freeze({
      graphsDir: o.graphsDir,
      allowInlineModules: o.allowInlineModules ?? false,
      mirrorTimeoutMs: o.mirrorTimeoutMs ?? 10_000,
      log: this.log,
      relayUrl: () => this.url,
      discover: () => this.discoverDoc,
      tracker: o.tracker,
    });

    // The dashboard (its page at `/`, its feed at /ws/v0/dashboard) behind the same keys.
    const dashboard = new DashboardEndpoint({ feed: new DashboardFeed({ runs: () => sessionRuns(this.sessions.values()), log: this.log, ...(o.dashboardJobs ? { jobs: o.dashboardJobs } : {}), ...(o.dashboardTracking ? { tracking: o.dashboardTracking } : {}) }), mode: "serve", keys: this.keys, log: this.log });
    this.dashboard = dashboard;
    const server = http.createServer((req, res) => {
      // A target that does not parse is refused before any handler reads it.
      if (!parseRequestTarget(req.url)) return sendJson(res, 400, { error: "bad request target" });
      try {
        // The dashboard's own paths first: the registry answers every other path (401 without a key).
        if (dashboard.handleRequest(req, res)) return;
        if (o.httpHandler?.(req, res, this.keys)) return;
      } catch (err) {
        this.log.error({ err, url: String(req.url).slice(0, 200) }, "HTTP handler failed");
        if (!res.headersSent) sendJson(res, 500, { error: "internal error" });
        else res.destroy();
        return;
      }
      this.routes.handle(req, res);
    });
    const wss = new WebSocketServer({ noServer: true, maxPayload: this.limits.maxFrameBytes, perMessageDeflate: false });
    server.on("upgrade", (req, socket, head) => {
      // Nothing a client sends at the upgrade may reach the uncaught-exception handler.
      try {
        if (!parseRequestTarget(req.url)) return refuseUpgrade(socket, 400, "bad request target");
        if (dashboard.handleUpgrade(req, socket, head)) return;
        this.upgrade(req, socket, head);
      } catch (err) {
        this.log.error({ err, url: String(req.url).slice(0, 200) }, "upgrade failed");
        if (socket.writable) refuseUpgrade(socket, 500, "internal error");
        else socket.destroy();
      }
    });
    this.http = server;
    this.wss = wss;
    const host = o.host ?? "127.0.0.1";
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(o.port ?? 8765, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const addr = server.address() as AddressInfo;
    this.address = { host, port: addr.port };
    this.log.info({ host, port: addr.port }, "bridge listening");
    return { port: addr.port, host, url: this.url };
  }

  /** Closes every connection, deinitializes every session's runners, and stops listening. */
  async close(): Promise<void> {
    const server = this.http;
    this.http = undefined;
    for (const c of this.conns) {
      clearInterval(c.timer);
      c.ws.close(1001, "server closing");
      c.peer.close(new TubularError("TUBULAR_ERR_RPC", "the bridge is closing", { reason: "closed" }));
    }
    this.conns.clear();
    this.dashboard?.close();
    this.dashboard = undefined;
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    this.relays.clear();
    await Promise.allSettled(sessions.map((s) => s.dispose()));
    this.wss?.close();
    this.wss = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  private upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", () => undefined);
    const url = parseRequestTarget(req.url);
    if (!url) return refuseUpgrade(socket, 400, "bad request target");
    if (this.options.upgradeHandler?.(req, socket, head, this.keys)) return;
    if (url.pathname !== RPC_PATH && url.pathname !== RPC_PATH.slice(0, -1)) return refuseUpgrade(socket, 404, "not found");
    const key = keyFromHeader(req.headers.authorization);
    const relaySession = key ? this.relays.get(digestKey(key)) : undefined;
    const principal = relaySession ? undefined : this.keys.check(key);
    if (!relaySession && !principal) {
      this.log.info({ remote: req.socket.remoteAddress }, key ? "unknown API key refused" : "connection without API key refused");
      return refuseUpgrade(socket, 401, "a valid API key is required (Authorization: Api-Key <key>)");
    }
    if (!relaySession && this.sessions.size >= this.limits.maxSessions) {
      const wanted = req.headers["x-tubular-session"] ?? url.searchParams.get("session_id");
      if (typeof wanted !== "string" || !this.sessions.has(wanted)) return refuseUpgrade(socket, 503, "too many sessions");
    }
    // The 101 response and the session frame leave in one write: the reference
    // client reads the session frame itself right after it starts its listener,
    // and two readers of one socket break it unless both arrived together.
    socket.cork();
    try {
      this.wss!.handleUpgrade(req, socket, head, (ws) => {
        if (relaySession) return this.connect(ws, relaySession, true, false);
        const wanted = req.headers["x-tubular-session"] ?? url.searchParams.get("session_id");
        const old = typeof wanted === "string" ? this.sessions.get(wanted) : undefined;
        if (old && old.principal === principal && !old.attached && !old.isDisposed) return this.connect(ws, old, false, true);
        const session = new Session({ principal: principal!, relayToken: randomToken(), log: this.log, maxEventBufferBytes: this.limits.maxBufferedBytes / 4,
          variableTimeoutMs: this.options.mirrorTimeoutMs ?? 10_000,
        });
        this.sessions.set(session.id, session);
        this.relays.set(digestKey(session.relayToken), session);
        this.connect(ws, session, false, false);
      });
    } finally {
      socket.uncork();
    }
  }

  private connect(ws: WebSocket, session: Session, relay: boolean, resumed: boolean): void {
    const limits = this.limits;
    const conn = {} as Conn;
    const onBadFrame = (kind: BadFrameKind) => {
      // A response nobody waits for costs its parse only; the reference client sends one for every notification it has no handler for.
      if (kind === "unknown-response") return;
      const now = Date.now();
      if (now - conn.badWindowStart > BAD_FRAME_WINDOW_MS) {
        conn.badWindowStart = now;
        conn.badFrames = 0;
      }
      if (++conn.badFrames > limits.maxBadFrames && !conn.closing) {
        conn.closing = true;
        session.log.warn({ kind }, "too many bad frames; disconnecting the client");
        ws.close(1008, "too many bad frames");
        // A client that goes on sending instead of answering the close is not read for long.
        setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
      }
    };
    // Replies queue on the socket only as far as the client reads them: over
    // half the bound we stop reading its frames (so it stops making replies),
    // and a client still not reading past the bound is dropped.
    const afterWrite = () => {
      if (ws.isPaused && !conn.closing && ws.bufferedAmount <= limits.maxBufferedBytes / 4) ws.resume();
    };
    const send = (text: string) => {
      ws.send(text, afterWrite);
      const queued = ws.bufferedAmount;
      if (queued > limits.maxBufferedBytes) {
        if (!conn.closing) session.log.warn({ queued }, "the client does not read its replies; dropping the connection");
        conn.closing = true;
        ws.terminate();
      } else if (queued > limits.maxBufferedBytes / 2 && !ws.isPaused) {
        session.log.info({ queued }, "the client does not read its replies; reading from it paused");
        ws.pause();
      }
    };
    const peer = new JsonRpcPeer({
      send,
      resolve: compileMethods(methods, { session, services: this.services!, relay }),
      heartbeatIntervalMs: this.options.heartbeatIntervalMs ?? 2000,
      maxInflight: limits.maxInflightPerSession,
      maxBatch: limits.maxBatch,
      maxMessageBytes: limits.maxReplyBytes,
      idPrefix: "s",
      onBadFrame,
      log: session.log,
    });
    const now = Date.now();
    Object.assign(conn, { ws, peer, session, relay, lastMessage: now, lastPong: now, badFrames: 0, badWindowStart: now, closing: false });
    conn.timer = setInterval(() => this.check(conn), Math.max(50, Math.min(limits.idleTimeoutMs / 4, limits.deadPeerMs / 3)));
    conn.timer.unref();
    this.conns.add(conn);
    if (!relay) session.attach(peer, () => ws.bufferedAmount);

    ws.on("pong", () => {
      conn.lastPong = Date.now();
    });
    ws.on("message", (data, isBinary) => {
      if (conn.closing) return;
      // Only a pong proves the peer alive: a client that sends but never reads must not look alive.
      conn.lastMessage = Date.now();
      peer.receive(isBinary ? Buffer.from(data as Buffer).toString("utf8") : data.toString());
    });
    ws.on("error", (err) => {
      session.log.info({ err: err.message }, "connection error");
    });
    ws.on("close", (code) => {
      clearInterval(conn.timer);
      this.conns.delete(conn);
      peer.close(new TubularError("TUBULAR_ERR_RPC", `the client disconnected (code ${code})`, { reason: "disconnected", code }));
      if (relay) return;
      session.log.debug({ code }, "client disconnected; session kept for the grace period");
      session.detach(peer, limits.sessionGraceMs, () => {
        if (this.sessions.get(session.id) !== session) return;
        this.sessions.delete(session.id);
        this.relays.delete(digestKey(session.relayToken));
        session.log.debug("session expired; deinitializing its runners");
        void session.dispose();
      });
    });
    ws.send(encode({ jsonrpc: JSONRPC, id: null, result: { session_id: session.id, ...(resumed ? { resumed: true } : {}) } }));
  }

  private check(conn: Conn): void {
    const now = Date.now();
    if (now - conn.lastPong > this.limits.deadPeerMs) {
      conn.session.log.info("client answers no ping; dropping the connection");
      conn.ws.terminate();
      return;
    }
    const busy = conn.peer.inflightCount > 0 || conn.peer.pendingCount > 0;
    if (!busy && now - conn.lastMessage > this.limits.idleTimeoutMs) {
      conn.session.log.info("idle timeout; closing the connection");
      conn.closing = true;
      conn.ws.close(1001, "idle timeout");
      return;
    }
    if (conn.ws.readyState === conn.ws.OPEN) conn.ws.ping();
  }
}
