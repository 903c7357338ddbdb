/**
 * One end of a JSON-RPC 2.0 conversation, over any text transport. Both the
 * server's sessions and TubularClient are a JsonRpcPeer: requests go both
 * ways, with notifications and batches, and long calls are kept alive by
 * heartbeats in both directions.
 *
 * The peer never throws on input: every frame that arrives gets the reply the
 * spec asks for (or none, for notifications and responses), and the
 * conversation goes on.
 */
import type { Logger } from "pino";
import { TubularError } from "../errors.ts";
import { HeartbeatKeeper } from "./heartbeat.ts";
import {
  encode,
  failure,
  issuesData,
  notification,
  request,
  RpcCodes,
  RpcError,
  RpcFailure,
  RpcRequest,
  RpcSuccess,
  salvageId,
  success,
  toRpcError,
  type RpcErrorObject,
  type RpcId,
  type RpcResponse,
} from "./jsonrpc.ts";

export interface CallContext {
  /** The request id; null for a notification. */
  readonly id: RpcId | null;
  readonly method: string;
  readonly peer: JsonRpcPeer;
}

export type Handler = (params: unknown, ctx: CallContext) => unknown;

/**
 * Why a message was refused, for counting and for abuse limits. Each message
 * of a batch counts on its own. Every kind but "unknown-response" made the
 * peer build a reply; a response nobody waits for costs only its parse, and
 * the reference client sends one (`id: null`) for every notification it has
 * no handler for, so that kind is reported but not meant to be held against
 * the sender.
 */
export type BadFrameKind = "parse" | "invalid" | "batch-too-large" | "overloaded" | "unknown-method" | "unknown-response";

/** What became of an outgoing message. */
export type SendOutcome = "sent" | "closed" | "too-large";

/** Longest method name echoed back in a -32601 reply: the reply never grows with the request. */
const MAX_ECHOED_METHOD = 256;

export interface PeerOptions {
  send(text: string): void;
  /** The handler of a method (request or notification), or undefined when there is none. */
  resolve(method: string): Handler | undefined;
  /** Heartbeats for our long-running answers; 0 sends none. */
  heartbeatIntervalMs?: number;
  /** Requests we may be answering at once; more get OVERLOADED. */
  maxInflight?: number;
  /** Entries in one incoming batch; a longer batch is an invalid request. */
  maxBatch?: number;
  /** Prefix of the ids we originate, so the two directions never mix. */
  idPrefix?: string;
  onBadFrame?(kind: BadFrameKind): void;
  /**
   * Largest message we send, in UTF-8 bytes. A result over it is replaced by
   * a RESULT_TOO_LARGE error; a request or notification over it is not sent.
   * Default: no limit.
   */
  maxMessageBytes?: number;
  log?: Logger;
}

export interface RequestOptions {
  /** Rejects after this long without a reply or a heartbeat for it; 0 or undefined waits forever. */
  timeoutMs?: number;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout | undefined;
  method: string;
}

export class JsonRpcPeer {
  private readonly pending = new Map<RpcId, Pending>();
  private readonly heartbeats: HeartbeatKeeper | undefined;
  private nextId = 0;
  private closedWith: Error | undefined;
  private inflight = 0;
  private readonly maxInflight: number;
  private readonly maxBatch: number;
  private readonly idPrefix: string;
  private readonly maxMessageBytes: number;

  constructor(private readonly opts: PeerOptions) {
    this.maxInflight = opts.maxInflight ?? Infinity;
    this.maxBatch = opts.maxBatch ?? 1000;
    this.idPrefix = opts.idPrefix ?? "";
    this.maxMessageBytes = opts.maxMessageBytes ?? Infinity;
    const hb = opts.heartbeatIntervalMs ?? 0;
    this.heartbeats = hb > 0 ? new HeartbeatKeeper(hb, (id) => this.notify("heartbeat", { id })) : undefined;
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Requests we sent and still wait for. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** Requests we are answering. */
  get inflightCount(): number {
    return this.inflight;
  }

  /** Sends a request and resolves with its result, or rejects with an RpcError (the peer's error), or a TubularError (timeout, closed). */
  request(method: string, params?: unknown, options: RequestOptions = {}): Promise<unknown> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const id = `${this.idPrefix}${++this.nextId}`;
    return new Promise((resolve, reject) => {
      const entry: Pending = { resolve, reject, timer: undefined, method };
      if (options.timeoutMs && options.timeoutMs > 0) {
        const ms = options.timeoutMs;
        entry.timer = setTimeout(() => {
          this.pending.delete(id);
          reject(
            new TubularError("TUBULAR_ERR_RPC", `${method}: no reply or heartbeat within ${ms / 1000} s`, {
              reason: "timeout",
              method,
              id,
            }),
          );
        }, ms);
      }
      this.pending.set(id, entry);
      const outcome = this.write(request(id, method, params));
      if (outcome !== "sent") {
        this.settle(id);
        reject(
          outcome === "too-large"
            ? new TubularError("TUBULAR_ERR_RPC", `${method}: the request is larger than ${this.maxMessageBytes} bytes and was not sent`, {
                reason: "too-large",
                method,
                max_bytes: this.maxMessageBytes,
              })
            : (this.closedWith ?? new TubularError("TUBULAR_ERR_RPC", `${method}: the connection is closed`, { reason: "closed", method })),
        );
      }
    });
  }

  /** Sends a notification; says whether it went, or why not. */
  notify(method: string, params?: unknown): SendOutcome {
    return this.write(notification(method, params));
  }

  /** Fails every request still waiting, at once, with `error`; later requests fail with it too. */
  close(error: Error): void {
    if (this.closedWith) return;
    this.closedWith = error;
    this.heartbeats?.stop();
    for (const [id, p] of this.pending) {
      if (p.timer) clearTimeout(p.timer);
      this.pending.delete(id);
      p.reject(error);
    }
  }

  /** Handles one incoming text frame. */
  receive(text: string): void {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      this.opts.onBadFrame?.("parse");
      this.write(failure(null, { code: RpcCodes.PARSE_ERROR, message: "Parse error" }));
      return;
    }
    if (Array.isArray(message)) {
      void this.receiveBatch(message);
      return;
    }
    void this.receiveOne(message).then((reply) => {
      if (reply) this.write(reply);
    });
  }

  private async receiveBatch(batch: unknown[]): Promise<void> {
    if (batch.length === 0 || batch.length > this.maxBatch) {
      this.opts.onBadFrame?.(batch.length === 0 ? "invalid" : "batch-too-large");
      const message = batch.length === 0 ? "Invalid Request: empty batch" : `Invalid Request: a batch holds at most ${this.maxBatch} messages`;
      this.write(failure(null, { code: RpcCodes.INVALID_REQUEST, message }));
      return;
    }
    const replies = await Promise.all(batch.map((m) => this.receiveOne(m)));
    const out = replies.filter((r): r is RpcResponse => r !== undefined);
    if (out.length > 0) this.write(out);
  }

  /** Handles one message; resolves with the reply to send, if any. */
  private async receiveOne(message: unknown): Promise<RpcResponse | undefined> {
    const isObject = typeof message === "object" && message !== null && !Array.isArray(message);
    if (isObject && !("method" in message) && ("result" in message || "error" in message)) {
      this.receiveResponse(message);
      return undefined;
    }
    const parsed = RpcRequest.safeParse(message);
    if (!parsed.success) {
      this.opts.onBadFrame?.("invalid");
      return failure(salvageId(message), { code: RpcCodes.INVALID_REQUEST, message: "Invalid Request", data: issuesData(parsed.error) });
    }
    const req = parsed.data;
    const id = req.id === undefined ? undefined : req.id;
    const isNotification = id === undefined;

    if (isNotification && req.method === "heartbeat") this.onHeartbeat(req.params);

    const handler = this.opts.resolve(req.method);
    if (!handler) {
      if (isNotification) return undefined;
      this.opts.onBadFrame?.("unknown-method");
      const method = req.method.length > MAX_ECHOED_METHOD ? `${req.method.slice(0, MAX_ECHOED_METHOD)}…` : req.method;
      return failure(id, { code: RpcCodes.METHOD_NOT_FOUND, message: "Method not found", data: { method } });
    }
    if (!isNotification && this.inflight >= this.maxInflight) {
      this.opts.onBadFrame?.("overloaded");
      return failure(id, {
        code: RpcCodes.OVERLOADED,
        message: `Too many calls in flight (at most ${this.maxInflight})`,
        data: { max_inflight: this.maxInflight },
      });
    }

    const ctx: CallContext = { id: id ?? null, method: req.method, peer: this };
    if (isNotification) {
      try {
        await handler(req.params, ctx);
      } catch (err) {
        if (err instanceof RpcError) this.opts.log?.debug({ method: req.method, error: err.toWire() }, "notification refused");
        else this.opts.log?.warn({ method: req.method, err }, "notification handler failed");
      }
      return undefined;
    }

    this.inflight++;
    if (id !== null) this.heartbeats?.track(id);
    try {
      const result = await handler(req.params, ctx);
      return success(id, result);
    } catch (err) {
      const rpcError = toRpcError(err);
      if (rpcError.rpcCode === RpcCodes.INTERNAL_ERROR) this.opts.log?.error({ method: req.method, err }, "method failed");
      return failure(id, rpcError.toWire());
    } finally {
      this.inflight--;
      if (id !== null) this.heartbeats?.done(id);
    }
  }

  private receiveResponse(message: object): void {
    const ok = RpcSuccess.safeParse(message);
    const parsed = ok.success ? ok.data : RpcFailure.safeParse(message).data;
    if (!parsed || parsed.id === null) {
      // Never reply to a response (spec, section 5); an id-less error is the peer complaining about something it could not tie to a request.
      this.opts.onBadFrame?.("unknown-response");
      this.opts.log?.debug({ message }, "response without a matching request ignored");
      return;
    }
    const entry = this.settle(parsed.id);
    if (!entry) {
      this.opts.onBadFrame?.("unknown-response");
      this.opts.log?.debug({ id: parsed.id }, "response to an unknown or expired request ignored");
      return;
    }
    if ("error" in parsed) entry.reject(RpcError.fromWire(parsed.error as RpcErrorObject));
    else entry.resolve(parsed.result);
  }

  private onHeartbeat(params: unknown): void {
    const id = (params as { id?: unknown } | undefined)?.id;
    if (typeof id !== "string" && typeof id !== "number") return;
    this.pending.get(id)?.timer?.refresh();
  }

  private settle(id: RpcId): Pending | undefined {
    const entry = this.pending.get(id);
    if (!entry) return undefined;
    this.pending.delete(id);
    if (entry.timer) clearTimeout(entry.timer);
    return entry;
  }

  private write(message: unknown): SendOutcome {
    if (this.closedWith) return "closed";
    let text: string | undefined;
    if (Array.isArray(message)) {
      // A batch's replies: each within the limit; more of them than one frame may carry go in several arrays, each a valid batch reply.
      const parts = message.map((m) => this.encodeOne(m)).filter((t): t is string => t !== undefined);
      let chunk: string[] = [];
      let size = 2;
      for (const part of parts) {
        const bytes = Buffer.byteLength(part) + 1;
        if (chunk.length > 0 && size + bytes > this.maxMessageBytes) {
          if (this.send(`[${chunk.join(",")}]`) === "closed") return "closed";
          chunk = [];
          size = 2;
        }
        chunk.push(part);
        size += bytes;
      }
      return chunk.length > 0 ? this.send(`[${chunk.join(",")}]`) : "sent";
    }
    text = this.encodeOne(message);
    if (text === undefined) return "too-large";
    return this.send(text);
  }

  /** One message as text within the size limit: a result over it becomes RESULT_TOO_LARGE; anything else over it is undefined. */
  private encodeOne(message: unknown): string | undefined {
    let text: string;
    try {
      text = encode(message);
    } catch (err) {
      // A result JSON cannot carry (a cycle): the caller still gets an answer.
      const id = salvageId(message);
      if (id === null || !("result" in (message as object))) {
        this.opts.log?.error({ err }, "message could not be encoded");
        return undefined;
      }
      text = encode(failure(id, { code: RpcCodes.INTERNAL_ERROR, message: "Internal error: the result is not JSON-serializable" }));
    }
    // A UTF-16 length is at least a third of the UTF-8 byte length: the exact count is needed only near the limit.
    if (text.length * 3 <= this.maxMessageBytes) return text;
    const bytes = Buffer.byteLength(text);
    if (bytes <= this.maxMessageBytes) return text;
    const m = message as { id?: unknown; result?: unknown; method?: unknown };
    if ("result" in m && "id" in m) {
      return encode(
        failure(salvageId(m), {
          code: RpcCodes.RESULT_TOO_LARGE,
          message: `Result too large: ${bytes} bytes, at most ${this.maxMessageBytes}`,
          data: { bytes, max_bytes: this.maxMessageBytes },
        }),
      );
    }
    this.opts.log?.warn({ bytes, method: typeof m.method === "string" ? m.method : undefined }, "outgoing message over the size limit not sent");
    return undefined;
  }

  private send(text: string): SendOutcome {
    try {
      this.opts.send(text);
      return "sent";
    } catch (err) {
      this.opts.log?.debug({ err }, "send failed");
      return "closed";
    }
  }
}
