/**
 * One small class per socket role of the data flow (DESIGN.md):
 *
 *   command:  CommandOutbox (PUB, bind)   -> runners' Subscription (SUB)
 *             CommandInbox  (ROUTER, bind) <- runners' RunnerControl (DEALER)
 *   runners:  NodeOutbox    (XPUB, bind)  -> Subscription (SUB) of downstream runners and of the command
 *
 * Each creates its zeromq.js socket with the options its role needs, encodes
 * and decodes through one Codec (undecodable frames are dropped and counted,
 * never thrown), and sends through a SendQueue (no await per message). A
 * class only has the methods its role may use.
 */
import type { Logger } from "pino";
import * as zmq from "zeromq";
import { TubularError } from "../errors.ts";
import { Codec } from "../protocol/codec.ts";
import type { Message } from "../protocol/message.ts";
import { boundEndpoint } from "./address.ts";
import { type CurveConfig, curveOptions } from "./curve.ts";
import { SendQueue } from "./send-queue.ts";

/**
 * Defaults, each with its reason.
 * - linger: on close, pending outgoing messages get this long to leave (a last
 *   status or deinit), and closing never holds the process for longer.
 * - control high water mark: control messages are few; 1000 queued means a
 *   peer is gone or stuck, and the JS send queue takes over from there.
 * - event high water mark: events are batched per message and bounded
 *   upstream by the window of epochs in flight; 10 000 messages is a safety
 *   net, not the flow control.
 * - ZMTP heartbeats: libzmq pings every 250 ms and drops a connection silent
 *   for 1 s, so a peer whose host died (half-open TCP) is reconnected to or
 *   noticed, instead of buffering into the void. Application liveness is
 *   heartbeat.ts's job; this is the connection's.
 */
export const SOCKET_DEFAULTS = {
  lingerMs: 250,
  controlHighWaterMark: 1000,
  eventHighWaterMark: 10_000,
  zmtpHeartbeatIntervalMs: 250,
  zmtpHeartbeatTimeoutMs: 1000,
} as const;

export interface SocketRoleOptions {
  /** Shared codec (and its drop counts); a new one by default. */
  codec?: Codec;
  /** The component's child logger. */
  logger?: Logger;
  /** CURVE: "server" on binding sockets, "client" on connecting ones. */
  curve?: CurveConfig;
  sendHighWaterMark?: number;
  receiveHighWaterMark?: number;
  lingerMs?: number;
  /** ZMTP heartbeats on the socket's connections; on by default. */
  zmtpHeartbeat?: boolean;
  context?: zmq.Context;
}

/** Options common to every role; `dir` says which high water marks the socket type has (zeromq.js refuses the others). */
function baseOptions(o: SocketRoleOptions, codec: Codec, hwm: number, dir: "send" | "receive" | "both" = "both") {
  const hb = o.zmtpHeartbeat ?? true;
  return {
    linger: o.lingerMs ?? SOCKET_DEFAULTS.lingerMs,
    ...(dir !== "receive" ? { sendHighWaterMark: o.sendHighWaterMark ?? hwm } : {}),
    ...(dir !== "send" ? { receiveHighWaterMark: o.receiveHighWaterMark ?? hwm } : {}),
    // libzmq applies it per frame; the codec checks the whole message.
    maxMessageSize: codec.maxMessageBytes,
    ...(hb
      ? {
          heartbeatInterval: SOCKET_DEFAULTS.zmtpHeartbeatIntervalMs,
          heartbeatTimeout: SOCKET_DEFAULTS.zmtpHeartbeatTimeoutMs,
          heartbeatTimeToLive: SOCKET_DEFAULTS.zmtpHeartbeatTimeoutMs,
        }
      : {}),
    ...(o.curve ? curveOptions(o.curve) : {}),
    ...(o.context ? { context: o.context } : {}),
  };
}

async function bindSocket(socket: zmq.Socket, address: string): Promise<string> {
  try {
    await socket.bind(address);
  } catch (err) {
    throw new TubularError("TUBULAR_ERR_TRANSPORT", `could not bind ${address}: ${(err as Error).message}`, { address }, { cause: err });
  }
  return boundEndpoint(socket);
}

function connectSocket(socket: zmq.Socket, address: string): void {
  try {
    socket.connect(address);
  } catch (err) {
    throw new TubularError("TUBULAR_ERR_TRANSPORT", `could not connect to ${address}: ${(err as Error).message}`, { address }, { cause: err });
  }
}

function isClosedError(err: unknown, socket: zmq.Socket): boolean {
  const code = (err as { code?: string }).code;
  return socket.closed || code === "ETERM" || code === "ENOTSOCK" || code === "EAGAIN";
}

abstract class Role<S extends zmq.Socket & zmq.Writable> {
  readonly codec: Codec;
  protected readonly logger: Logger | undefined;
  protected readonly queue: SendQueue;

  constructor(
    readonly socket: S,
    options: SocketRoleOptions,
    codec: Codec,
  ) {
    this.codec = codec;
    this.logger = options.logger;
    this.queue = new SendQueue(socket as unknown as { send(f: Array<Buffer | string>): Promise<void> }, (err) => {
      if (!socket.closed) this.logger?.warn({ err }, "a message could not be sent");
    });
  }

  get closed(): boolean {
    return this.socket.closed;
  }

  /** Messages waiting in the JS send queue. */
  get queued(): number {
    return this.queue.queued;
  }

  /** Resolves when every message sent so far has been handed to libzmq. */
  drained(): Promise<void> {
    return this.queue.drained();
  }

  /** Closes the socket: messages already handed to libzmq get `lingerMs` to leave, the JS queue is dropped. */
  close(): void {
    this.queue.clear();
    if (!this.socket.closed) this.socket.close();
  }
}

/** Decodes every frame set of a readable socket, skipping (and counting) the undecodable ones. */
async function* decoded<T>(socket: zmq.Socket & zmq.Readable, decode: (frames: Buffer[]) => T | undefined): AsyncGenerator<T> {
  while (!socket.closed) {
    let frames: Buffer[];
    try {
      frames = await socket.receive();
    } catch (err) {
      if (isClosedError(err, socket)) return;
      throw err;
    }
    const m = decode(frames);
    if (m !== undefined) yield m;
  }
}

// ---------------------------------------------------------------------------
// command side

/** The command node's broadcast of control messages to every runner (PUB, binds). */
export class CommandOutbox extends Role<zmq.Publisher> {
  constructor(options: SocketRoleOptions = {}) {
    const codec = options.codec ?? new Codec();
    // noDrop: a control message must never vanish silently at the high water mark; the send queue holds it.
    super(new zmq.Publisher({ ...baseOptions(options, codec, SOCKET_DEFAULTS.controlHighWaterMark, "send"), noDrop: true }), options, codec);
  }

  /** Binds and returns the bound endpoint (with the port chosen for `:0`). */
  bind(address: string): Promise<string> {
    return bindSocket(this.socket, address);
  }

  /** Publishes on the topic of the sender's id; false when the send queue is past its mark. */
  publish(msg: Message): boolean {
    return this.queue.send(this.codec.encodePub(msg));
  }
}

/** A message that arrived at a ROUTER, with the routing id of its sender. */
export interface Routed {
  /** The sender's routing id (the runner id it connected with). */
  readonly peer: string;
  readonly message: Message;
}

/** The command node's inbox of runner messages (ROUTER, binds); can answer one runner. */
export class CommandInbox extends Role<zmq.Router> {
  constructor(options: SocketRoleOptions = {}) {
    const codec = options.codec ?? new Codec();
    super(
      new zmq.Router({
        ...baseOptions(options, codec, SOCKET_DEFAULTS.controlHighWaterMark),
        // An unknown peer is an error, not a silent drop.
        mandatory: true,
        // A restarted runner reconnecting with the same id takes over its routing id.
        handover: true,
      }),
      options,
      codec,
    );
  }

  bind(address: string): Promise<string> {
    return bindSocket(this.socket, address);
  }

  /** Sends to the runner connected with routing id `peer`. */
  sendTo(peer: string, msg: Message): boolean {
    const frames: Array<Buffer | string> = this.codec.encode(msg);
    frames.unshift(peer);
    return this.queue.send(frames);
  }

  /** Every valid message, in arrival order. One reader at a time. */
  messages(): AsyncGenerator<Routed> {
    return decoded(this.socket, (frames) => {
      const r = this.codec.decodeRouterSafe(frames);
      return r && { peer: r.identity.toString(), message: r.message };
    });
  }
}

// ---------------------------------------------------------------------------
// runner side

/** A runner's line to the command node (DEALER with the runner's id as routing id, connects). */
export class RunnerControl extends Role<zmq.Dealer> {
  readonly id: string;

  constructor(options: SocketRoleOptions & { id: string }) {
    const codec = options.codec ?? new Codec();
    super(new zmq.Dealer({ ...baseOptions(options, codec, SOCKET_DEFAULTS.controlHighWaterMark), routingId: options.id }), options, codec);
    this.id = options.id;
  }

  connect(address: string): void {
    connectSocket(this.socket, address);
  }

  send(msg: Message): boolean {
    return this.queue.send(this.codec.encode(msg));
  }

  /** Messages the command sent to this runner alone. One reader at a time. */
  messages(): AsyncGenerator<Message> {
    return decoded(this.socket, (frames) => this.codec.decodeSafe(frames));
  }
}

/**
 * The subscription a Subscription makes so that publishers can tell who
 * subscribed: 0xFF then "sub:" and the subscriber's id. 0xFF never occurs in
 * UTF-8, so no topic (an id) matches it and nothing is ever delivered on it.
 * A SUB sends its subscriptions to a new (or re-made) connection in the order
 * they were made, and a Subscription makes the probe after its topics, so a
 * publisher that has seen the probe has seen the subscriber's topics too.
 */
export function probeTopic(subscriberId: string): Buffer {
  return Buffer.concat([Buffer.from([0xff]), Buffer.from(`sub:${subscriberId}`, "utf8")]);
}

function parseProbe(body: Buffer): string | undefined {
  if (body.length < 5 || body[0] !== 0xff) return undefined;
  const s = body.toString("utf8", 1);
  return s.startsWith("sub:") ? s.slice(4) : undefined;
}

/**
 * A runner's event outbox (XPUB, binds). Sees every subscription
 * (XPUB_VERBOSE), so it can prove that given subscribers are in place before
 * the first event is sent: the slow-joiner handshake of DESIGN.md.
 */
export class NodeOutbox extends Role<zmq.XPublisher> {
  private readonly subs = new Map<string, number>();
  private readonly waiters = new Set<() => void>();
  private readonly listeners = new Set<(id: string, subscribed: boolean) => void>();
  private readonly loop: Promise<void>;
  /** Raw topic subscriptions seen (not probes). */
  private topicSubscriptions = 0;

  constructor(options: SocketRoleOptions = {}) {
    const codec = options.codec ?? new Codec();
    const socket = new zmq.XPublisher({
      ...baseOptions(options, codec, SOCKET_DEFAULTS.eventHighWaterMark),
      // Events are not dropped at the high water mark: the send blocks, the
      // send queue grows and `publish` returns false, which is backpressure.
      noDrop: true,
    });
    socket.verbosity = "allSubs";
    super(socket, options, codec);
    this.loop = this.watch();
  }

  bind(address: string): Promise<string> {
    return bindSocket(this.socket, address);
  }

  publish(msg: Message): boolean {
    return this.queue.send(this.codec.encodePub(msg));
  }

  /** Ids of the subscribers currently subscribed (those that announced themselves with a probe). */
  subscribers(): string[] {
    return [...this.subs.keys()];
  }

  /** How many topic subscriptions arrived (including repeats), probes aside. */
  get subscriptionCount(): number {
    return this.topicSubscriptions;
  }

  /** Called on each subscriber that comes (`true`) or goes (`false`). Returns a function that removes the listener. */
  onSubscriber(listener: (id: string, subscribed: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Resolves once every subscriber in `ids` (or, given a number, that many
   * distinct subscribers) is subscribed; rejects with TUBULAR_ERR_RUNNER_TIMEOUT
   * after `timeoutMs`, or with TUBULAR_ERR_RUNNER_STATE when the outbox is closed.
   */
  waitForSubscribers(ids: Iterable<string> | number, timeoutMs = 10_000): Promise<void> {
    const wanted = typeof ids === "number" ? undefined : [...ids];
    const done = () => (wanted === undefined ? this.subs.size >= (ids as number) : wanted.every((id) => this.subs.has(id)));
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.socket.closed) {
          cleanup();
          reject(new TubularError("TUBULAR_ERR_RUNNER_STATE", "the outbox was closed while waiting for subscribers"));
        } else if (done()) {
          cleanup();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        const missing = wanted ? wanted.filter((id) => !this.subs.has(id)) : [];
        reject(
          new TubularError("TUBULAR_ERR_RUNNER_TIMEOUT", `subscribers not seen after ${timeoutMs} ms: ${wanted ? missing.join(", ") : `${this.subs.size} of ${ids as number}`}`, {
            missing,
          }),
        );
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  override close(): void {
    super.close();
    for (const w of [...this.waiters]) w();
  }

  private async watch(): Promise<void> {
    for (;;) {
      let frames: Buffer[];
      try {
        frames = await this.socket.receive();
      } catch (err) {
        if (isClosedError(err, this.socket)) return;
        this.logger?.error({ err }, "subscription watch stopped");
        return;
      }
      const body = frames[0];
      if (body === undefined || body.length === 0) continue;
      const subscribe = body[0] === 1;
      if (!subscribe && body[0] !== 0) continue;
      const id = parseProbe(body.subarray(1));
      if (id === undefined) {
        if (subscribe) this.topicSubscriptions++;
        continue;
      }
      if (subscribe) {
        const first = !this.subs.has(id);
        this.subs.set(id, (this.subs.get(id) ?? 0) + 1);
        if (first) for (const l of this.listeners) l(id, true);
      } else {
        this.subs.delete(id);
        for (const l of this.listeners) l(id, false);
      }
      for (const w of [...this.waiters]) w();
    }
  }
}

/**
 * Receives published messages (SUB, connects to one or more outboxes). With
 * an `id`, it announces itself to every publisher it connects to (see
 * `probeTopic`), so a NodeOutbox can wait for it.
 */
export class Subscription {
  readonly socket: zmq.Subscriber;
  readonly codec: Codec;
  readonly id: string | undefined;
  private readonly probe: Buffer | undefined;
  private readonly keys: CurveConfig | undefined;
  private probeOn = false;

  constructor(options: SocketRoleOptions & { id?: string } = {}) {
    this.codec = options.codec ?? new Codec();
    // A subscription's curve settings are per connection (the server key); see connect().
    const { curve, ...rest } = options;
    this.keys = curve;
    this.socket = new zmq.Subscriber(baseOptions(rest, this.codec, SOCKET_DEFAULTS.eventHighWaterMark, "receive"));
    if (curve) Object.assign(this.socket, { curvePublicKey: curve.keys.publicKey, curveSecretKey: curve.keys.secretKey });
    this.id = options.id;
    this.probe = options.id === undefined ? undefined : probeTopic(options.id);
  }

  /**
   * Subscribes to messages whose topic starts with one of `topics` (a
   * sender's id; "" for everything). Subscribe before `connect` where you
   * can: the probe goes out after the topics. Subscribing later moves the
   * probe behind the new topics (unsubscribe and subscribe again), which
   * publishers see as the subscriber leaving and coming back.
   */
  subscribe(...topics: string[]): void {
    this.socket.subscribe(...topics);
    if (this.probe && this.probeOn) {
      this.socket.unsubscribe(this.probe);
      this.socket.subscribe(this.probe);
    }
  }

  unsubscribe(...topics: string[]): void {
    this.socket.unsubscribe(...topics);
  }

  /** Connects to an outbox; with CURVE, `serverPublicKey` is that outbox's public key. */
  connect(address: string, serverPublicKey?: string): void {
    if (this.keys) {
      const key = serverPublicKey ?? (this.keys.role === "client" ? this.keys.serverPublicKey : undefined);
      if (key === undefined) throw new TubularError("TUBULAR_ERR_KEY", `no server public key to connect to ${address} with CURVE`, { address });
      this.socket.curveServerKey = key;
    }
    if (this.probe && !this.probeOn) {
      this.socket.subscribe(this.probe);
      this.probeOn = true;
    }
    connectSocket(this.socket, address);
  }

  disconnect(address: string): void {
    try {
      this.socket.disconnect(address);
    } catch {
      // not connected: nothing to do
    }
  }

  /** Every valid message, in arrival order. One reader at a time. */
  messages(): AsyncGenerator<Message> {
    return decoded(this.socket, (frames) => this.codec.decodePubSafe(frames));
  }

  get closed(): boolean {
    return this.socket.closed;
  }

  close(): void {
    if (!this.socket.closed) this.socket.close();
  }
}
