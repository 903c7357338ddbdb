/**
 * TubularClient: the TypeScript client of the bridge's JSON-RPC protocol,
 * wire-compatible with the reference client, and better where it is weak:
 *
 * - the session frame is read by the one message listener, before anything
 *   else can see a frame, and no call is sent before it arrived;
 * - a refused API key (HTTP 401) fails at once instead of being retried;
 * - when the socket drops, every pending call fails at once with a clear
 *   error, and the client reconnects with the same API key and takes its
 *   session back (its tubes, runners, subscriptions and callables);
 * - a call's timeout restarts on each `heartbeat` for it, so a slow but
 *   healthy call never times out; and while the client runs a long callable
 *   it sends heartbeats itself.
 *
 * @example
 * const client = new TubularClient("ws://127.0.0.1:8765/ws/v0/rpc/");
 * const sessionId = await client.connect(process.env.TUBULAR_API_KEY!);
 * const { tube_id } = await client.call("tube.load", { path: "sum.yaml" }) as { tube_id: string };
 * const { runner_id } = await client.call("runner.init", { tube_id, runner: "local" }) as { runner_id: string };
 * const { value } = await client.call("runner.process", { runner_id, input: { x: 2 } }) as { value: unknown };
 * await client.close();
 */
import { EventEmitter } from "node:events";
import WebSocket from "ws";
import { TubularError } from "../errors.ts";
import { SessionFrame } from "./jsonrpc.ts";
import { JsonRpcPeer, type CallContext, type Handler } from "./peer.ts";

export type ClientStatus = "idle" | "connecting" | "connected" | "reconnecting" | "disconnected" | "closed";

export interface ClientOptions {
  /** Reconnect (same key, same session) when the socket drops. Default true. */
  reconnect?: boolean;
  /** Seconds a call waits without a reply or heartbeat, when `call` is given none. Default 60, as the reference. */
  defaultTimeout?: number;
  /** Interval of the heartbeats this client sends for the server's long calls (ms). Default 2000. */
  heartbeatIntervalMs?: number;
}

export interface ConnectOptions {
  /** Attempts in all (as the reference's `retries`). Default 3. */
  retries?: number;
  /** Seconds between attempts. Default 5. */
  delay?: number;
}

export interface CallOptions {
  /** Seconds without a reply or a heartbeat before the call rejects. */
  timeout?: number;
}

/** A callable served to `rpc` nodes: gets the node's inputs as kwargs. */
export type Callable = (kwargs: Record<string, unknown>, args: unknown[]) => unknown;

export interface MirroredGraph {
  readonly nodes: Map<string, { node_id: string; name: string; [k: string]: unknown }>;
  readonly edges: Array<{ from_node_id: string; to_node_id: string | null; output_nr: number; [k: string]: unknown }>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class TubularClient {
  readonly url: string;
  /** The graph the server mirrored to this client with create_node / create_edge. */
  readonly graph: MirroredGraph = { nodes: new Map(), edges: [] };
  private readonly options: Required<ClientOptions>;
  private readonly handlers = new Map<string, Handler>();
  private readonly callables = new Map<string, Callable>();
  private readonly emitter = new EventEmitter();
  private apiKey: string | undefined;
  private ws: WebSocket | undefined;
  private peer: JsonRpcPeer | undefined;
  private ready: Promise<string> | undefined;
  private _sessionId: string | undefined;
  private _status: ClientStatus = "idle";
  private userClosed = false;

  constructor(url: string, options: ClientOptions = {}) {
    this.url = url;
    this.options = { reconnect: options.reconnect ?? true, defaultTimeout: options.defaultTimeout ?? 60, heartbeatIntervalMs: options.heartbeatIntervalMs ?? 2000 };
    this.emitter.setMaxListeners(0);
    this.handlers.set("create_node", (params) => {
      const p = params as { node_id: string; name: string };
      this.graph.nodes.set(p.node_id, { ...p });
      return { message: "Ok" };
    });
    this.handlers.set("create_edge", (params) => {
      this.graph.edges.push({ ...(params as MirroredGraph["edges"][number]) });
      return { message: "Ok" };
    });
    this.handlers.set("run_callable", async (params) => {
      const p = (params ?? {}) as { callable_id?: unknown; args?: unknown; kwargs?: unknown };
      const fn = typeof p.callable_id === "string" ? this.callables.get(p.callable_id) : undefined;
      if (!fn) throw new Error(`callable ${JSON.stringify(p.callable_id)} is not served by this client`);
      const data = await fn((p.kwargs ?? {}) as Record<string, unknown>, Array.isArray(p.args) ? p.args : []);
      return { message: "Ok", data: data === undefined ? null : data };
    });
  }

  get sessionId(): string | undefined {
    return this._sessionId;
  }

  get status(): ClientStatus {
    return this._status;
  }

  /**
   * Connects with `apiKey` and resolves with the session id from the server's
   * first frame. Retries `retries` attempts in all, `delay` seconds apart;
   * a refused key fails at once with TUBULAR_ERR_AUTH.
   */
  async connect(apiKey: string, options: ConnectOptions = {}): Promise<string> {
    this.apiKey = apiKey;
    this.userClosed = false;
    this.ready = this.connectLoop(options.retries ?? 3, options.delay ?? 5, false);
    this.ready.catch(() => undefined);
    return this.ready;
  }

  /** Calls a server method; resolves with its result, rejects with an RpcError (the server's error) or a TubularError (timeout, disconnected). */
  async call(method: string, params?: unknown, options: CallOptions = {}): Promise<unknown> {
    const peer = await this.connectedPeer(method);
    const timeout = options.timeout ?? this.options.defaultTimeout;
    return peer.request(method, params ?? {}, { timeoutMs: timeout > 0 ? timeout * 1000 : 0 });
  }

  /** Sends a notification (no reply). */
  async notify(method: string, params?: unknown): Promise<void> {
    const peer = await this.connectedPeer(method);
    peer.notify(method, params ?? {});
  }

  /**
   * Listens to a server notification (`event`, `heartbeat`, `runner.error`, ...),
   * to "status" changes, or to "session" (a reconnect got a new session: the
   * old one's tubes, runners and callables are gone).
   */
  on(notification: string, handler: (params: any) => void): this {
    this.emitter.on(notification, handler);
    return this;
  }

  off(notification: string, handler: (params: any) => void): this {
    this.emitter.off(notification, handler);
    return this;
  }

  /** Serves a server-to-client method; `fn`'s return value is the result, a throw is the error reply. */
  handle(method: string, fn: (params: any, ctx: CallContext) => unknown): this {
    this.handlers.set(method, fn);
    return this;
  }

  /** Serves a callable to `rpc` nodes and registers it with the server. */
  async serve(name: string, fn: Callable): Promise<void> {
    this.callables.set(name, fn);
    await this.call("callables.register", { names: [name] });
  }

  /** Closes the connection; pending calls fail at once; no reconnect follows. */
  async close(): Promise<void> {
    this.userClosed = true;
    const ws = this.ws;
    this.ws = undefined;
    this.peer?.close(new TubularError("TUBULAR_ERR_RPC", "the client was closed", { reason: "closed" }));
    this.setStatus("closed");
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        ws.once("close", () => resolve());
        ws.close(1000);
        setTimeout(() => {
          ws.terminate();
          resolve();
        }, 1000).unref();
      });
    }
  }

  private async connectedPeer(method: string): Promise<JsonRpcPeer> {
    if (!this.ready) throw new TubularError("TUBULAR_ERR_RPC", `${method}: not connected; call connect() first`, { reason: "not-connected", method });
    await this.ready;
    const peer = this.peer;
    if (!peer || peer.closed) throw new TubularError("TUBULAR_ERR_RPC", `${method}: the connection is closed`, { reason: "closed", method });
    return peer;
  }

  private setStatus(status: ClientStatus): void {
    if (this._status === status) return;
    this._status = status;
    this.emitter.emit("status", status);
  }

  private async connectLoop(retries: number, delaySeconds: number, resuming: boolean): Promise<string> {
    let lastError: unknown;
    for (let attempt = 1; attempt <= Math.max(1, retries); attempt++) {
      if (this.userClosed) break;
      this.setStatus(resuming ? "reconnecting" : "connecting");
      try {
        const id = await this.open(resuming ? this._sessionId : undefined);
        const changed = this._sessionId !== undefined && this._sessionId !== id;
        this._sessionId = id;
        // A reconnect after the server's grace period lands in a new, empty session: say so.
        if (changed) this.emitter.emit("session", id);
        this.setStatus("connected");
        return id;
      } catch (err) {
        lastError = err;
        if (err instanceof TubularError && err.code === "TUBULAR_ERR_AUTH") break;
        if (attempt < retries) await sleep(delaySeconds * 1000);
      }
    }
    this.setStatus(this.userClosed ? "closed" : "disconnected");
    if (lastError instanceof TubularError && lastError.code === "TUBULAR_ERR_AUTH") throw lastError;
    throw new TubularError("TUBULAR_ERR_RPC", `could not connect to ${this.url} after ${retries} attempt(s): ${(lastError as Error)?.message ?? "closed"}`, {
      reason: "connect-failed",
      url: this.url,
    }, { cause: lastError });
  }

  /** One connection attempt; resolves with the session id of the first frame. */
  private open(resumeSession: string | undefined): Promise<string> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { Authorization: `Api-Key ${this.apiKey}` };
      if (resumeSession) headers["X-Tubular-Session"] = resumeSession;
      const ws = new WebSocket(this.url, { headers });
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        ws.removeAllListeners();
        ws.on("error", () => undefined);
        ws.terminate();
        reject(err);
      };
      ws.on("unexpected-response", (_req, res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        fail(
          status === 401
            ? new TubularError("TUBULAR_ERR_AUTH", "the server refused the API key (HTTP 401)", { status })
            : new TubularError("TUBULAR_ERR_RPC", `the server refused the connection (HTTP ${status})`, { reason: "refused", status }),
        );
      });
      ws.on("error", (err) => fail(err));
      ws.on("close", () => fail(new Error("the connection closed before the session frame")));
      // The only message listener: the first frame is the session frame, all later ones go to the peer.
      ws.on("message", (data, isBinary) => {
        const text = isBinary ? Buffer.from(data as Buffer).toString("utf8") : data.toString();
        if (!settled) {
          let frame: unknown;
          try {
            frame = JSON.parse(text);
          } catch {
            frame = undefined;
          }
          const parsed = SessionFrame.safeParse(frame);
          if (!parsed.success) {
            fail(new TubularError("TUBULAR_ERR_RPC", `the first frame is not a session frame: ${text.slice(0, 200)}`, { reason: "protocol" }));
            return;
          }
          settled = true;
          this.attach(ws);
          resolve(parsed.data.result.session_id);
          return;
        }
        this.peer?.receive(text);
      });
    });
  }

  private attach(ws: WebSocket): void {
    this.ws = ws;
    const peer = new JsonRpcPeer({
      send: (text) => ws.send(text),
      resolve: (method) => this.resolve(method),
      heartbeatIntervalMs: this.options.heartbeatIntervalMs,
      idPrefix: "c",
    });
    this.peer = peer;
    ws.removeAllListeners("close");
    ws.removeAllListeners("error");
    ws.on("error", () => undefined);
    ws.on("close", (code, reason) => {
      const why = reason.toString() || `code ${code}`;
      peer.close(new TubularError("TUBULAR_ERR_RPC", `the connection to the server was lost (${why}); the call was not answered`, { reason: "disconnected", code }));
      if (this.ws !== ws) return;
      this.ws = undefined;
      if (this.userClosed) return;
      this.setStatus("disconnected");
      if (this.options.reconnect && this.apiKey !== undefined) {
        // One reconnect loop at a time: `ready` is what new calls wait on.
        this.ready = this.connectLoop(3, 1, true);
        this.ready.catch(() => undefined);
      }
    });
  }

  private resolve(method: string): Handler | undefined {
    const own = this.handlers.get(method);
    if (own) return own;
    if (this.emitter.listenerCount(method) > 0 || method === "heartbeat" || method === "event") {
      return (params) => {
        this.emitter.emit(method, params);
      };
    }
    return undefined;
  }
}
