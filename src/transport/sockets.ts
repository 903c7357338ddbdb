/**
 * The one place the runtime makes its ZeroMQ sockets and reads them.
 *
 * `openSocket` sets ZMQ_MAXMSGSIZE on every socket: libzmq then refuses an
 * inbound frame larger than the limit while reading its length, and drops
 * that connection, so the frame never reaches memory. Options given by the
 * caller cannot lift it. XPUB sockets only ever receive subscriptions, so
 * theirs is small.
 *
 * libzmq limits each frame, not the number of frames of a message, and
 * hands a multi-part message over only when all of it arrived. `readLoop`
 * drops a message with more frames than the protocol allows before anything
 * looks at its frames, counted as a "frames" drop. That still lets zeromq.js
 * build an array of every frame (a message of 1,000,000 one-byte frames
 * blocks a process about 20 s on this machine), so the command node's
 * control channel is CLIENT/SERVER: a SERVER takes single-frame messages
 * only (libzmq drops multi-part ones before they reach the process), refuses
 * DEALER and ROUTER peers at the handshake, and names each connection
 * itself (no peer-chosen routing id to take over).
 *
 * zeromq.js cannot wait for a SERVER or CLIENT without spinning (see
 * idle-poll.ts): `openSocket` gives them a zero receive timeout, and
 * `readLoop` reads them when told to (`IdlePoll`), never leaving a read
 * pending. The senders below wake their socket's reader, as a reply may follow.
 */
import * as zmq from "zeromq";
// The draft socket types, without the entry module's "experimental" process warning on every start.
import { Client, Server } from "zeromq/lib/draft.js";
import type { Logger } from "pino";
import type { DropCounter } from "../protocol/drops.ts";
import { LoopTurn } from "./loop-turn.ts";
import { IdlePoll } from "./idle-poll.ts";

/** ZMQ_MAXMSGSIZE of XPUB sockets: a subscription is one short topic (prefix + an id of at most 255 bytes). */
export const SUBSCRIPTION_MAX_BYTES = 4096;

interface Kinds {
  router: zmq.Router;
  dealer: zmq.Dealer;
  xpub: zmq.XPublisher;
  sub: zmq.Subscriber;
  server: Server;
  client: Client;
}
const CONSTRUCTORS = { router: zmq.Router, dealer: zmq.Dealer, xpub: zmq.XPublisher, sub: zmq.Subscriber, server: Server, client: Client } as const;

export type { Client, Server };

export type SocketKind = keyof Kinds;
export type SocketOf<K extends SocketKind> = Kinds[K];
/** A socket's options, without the size limit (it is the factory's). */
export type SocketOptionsOf<K extends SocketKind> = Omit<zmq.SocketOptions<Kinds[K]>, "maxMessageSize">;

/** A socket of `kind` whose inbound frames are limited to `maxMessageBytes` (XPUB: SUBSCRIPTION_MAX_BYTES). */
export function openSocket<K extends SocketKind>(kind: K, maxMessageBytes: number, options: SocketOptionsOf<K> = {} as SocketOptionsOf<K>): SocketOf<K> {
  if (!Number.isInteger(maxMessageBytes) || maxMessageBytes <= 0) throw new RangeError(`maxMessageBytes must be a positive integer, got ${maxMessageBytes}`);
  const maxMessageSize = kind === "xpub" ? Math.min(SUBSCRIPTION_MAX_BYTES, maxMessageBytes) : maxMessageBytes;
  const Ctor = CONSTRUCTORS[kind] as unknown as new (o: object) => SocketOf<K>;
  // A zero receive timeout: a read never waits on the socket (which would spin, see idle-poll.ts).
  const polled = kind === "server" || kind === "client" ? { receiveTimeout: 0 } : {};
  const socket = new Ctor({ ...polled, ...options, maxMessageSize });
  if (kind === "server" || kind === "client") idlePolls.set(socket, new IdlePoll());
  return socket;
}

/** The reader's pace of each SERVER and CLIENT (see idle-poll.ts), woken by its sender. */
const idlePolls = new WeakMap<object, IdlePoll>();

export interface ReadLoopOptions<M extends unknown[]> {
  /** Messages with more frames than this are dropped unread. */
  maxFrames: number;
  onMessage: (frames: M) => void | Promise<void>;
  /** Where a message with too many frames is counted. */
  drops: DropCounter;
  log: Logger;
  /** What the socket is, for the log ("command inbox"). */
  name: string;
}

/**
 * Reads `socket` until it is closed, one message at a time (an async
 * handler is awaited before the next read). A read error on an open socket
 * is logged; on a closed one it is the normal end.
 */
export async function readLoop<M extends object[]>(socket: zmq.Readable<M> & { readonly closed: boolean }, options: ReadLoopOptions<M>): Promise<void> {
  // A busy socket hands messages over without ever reaching the timers (see loop-turn.ts).
  const loop = new LoopTurn();
  // SERVER and CLIENT sockets are read with a zero timeout, when their IdlePoll says.
  const idle = idlePolls.get(socket);
  try {
    await readUntilClosed(socket, options, loop, idle);
  } finally {
    loop.close();
  }
}

async function readUntilClosed<M extends object[]>(socket: zmq.Readable<M> & { readonly closed: boolean }, options: ReadLoopOptions<M>, loop: LoopTurn, idle: IdlePoll | undefined): Promise<void> {
  while (!socket.closed) {
    await loop.turn();
    let frames: M;
    try {
      frames = await socket.receive();
    } catch (err) {
      if (socket.closed) return;
      // Nothing queued (a polled socket), or a SERVER that dropped a multi-part
      // message and so has nothing to hand over although it polled readable. Read on.
      if ((err as { code?: string }).code === "EAGAIN") {
        if (idle) await idle.next();
        continue;
      }
      options.log.error({ err }, `${options.name} failed`);
      return;
    }
    idle?.wake();
    if (frames.length > options.maxFrames) {
      options.drops.record("frames", `a message of ${frames.length} frames on the ${options.name} (at most ${options.maxFrames})`);
      continue;
    }
    await options.onMessage(frames);
  }
}

/**
 * One message from a SERVER or CLIENT before `deadline` (a `performance.now()`
 * time), read at the idle pace (see idle-poll.ts) instead of with a read left
 * pending. Rejects as a receive timeout does, with code EAGAIN, once it passed.
 */
export async function receiveBefore(socket: Server | Client, deadline: number): Promise<Buffer[]> {
  const poll = idlePolls.get(socket) ?? new IdlePoll();
  for (;;) {
    try {
      return (await socket.receive()) as Buffer[];
    } catch (err) {
      if ((err as { code?: string }).code !== "EAGAIN" || performance.now() >= deadline) throw err;
      await poll.next();
    }
  }
}

/** A SERVER as a SendQueue target: frames are `[routingId, payload]`. */
export function serverSender(server: Server): { send(frames: Array<Buffer | string>): Promise<void>; readonly closed: boolean } {
  return {
    send: (frames) => {
      if (frames.length !== 2) return Promise.reject(new RangeError(`a control message is one frame, not ${frames.length - 1}`));
      idlePolls.get(server)?.wake();
      return server.send(frames[1]!, { routingId: Number(frames[0]) });
    },
    get closed() {
      return server.closed;
    },
  };
}

/** A CLIENT as a SendQueue target: a message must be one frame. */
export function clientSender(client: Client): { send(frames: Array<Buffer | string>): Promise<void>; readonly closed: boolean } {
  return {
    send: (frames) => {
      if (frames.length !== 1) return Promise.reject(new RangeError(`a control message is one frame, not ${frames.length}`));
      idlePolls.get(client)?.wake();
      return client.send(frames[0]!);
    },
    get closed() {
      return client.closed;
    },
  };
}
