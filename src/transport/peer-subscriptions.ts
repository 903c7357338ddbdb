/**
 * PeerSubscriptions: one SUB socket per publisher we read from, all feeding
 * one handler. One socket per peer because, under CurveZMQ, each connection
 * needs its own server key, and a socket's options apply to the connections
 * it makes afterwards: one shared socket would re-key under the others'
 * feet (and zeromq.js warns on every such change). Each socket subscribes to
 * its data topics first and then to our probe topic, so the probe's answer
 * proves the data subscriptions arrived (subscription-probe.ts).
 */
import * as zmq from "zeromq";
import type { Logger } from "pino";
import { curveClientOptions, type CurveKeyPair } from "./curve.ts";
import { openSocket, readLoop } from "./sockets.ts";
import { MAX_FRAMES } from "../protocol/codec.ts";
import type { DropCounter } from "../protocol/drops.ts";
import { ProbeTracker, isProbeFrame, probeTopic } from "./subscription-probe.ts";

export interface PeerSubscriptionsOptions {
  /** Our id, for the probe topic. */
  selfId: string;
  /** Our key pair, when the publishers are CURVE servers. */
  keys?: CurveKeyPair;
  onMessage: (peer: string, frames: Buffer[]) => void;
  log: Logger;
  /** The frame size limit of every subscription socket. */
  maxMessageBytes: number;
  /** Where messages with too many frames are counted. */
  drops: DropCounter;
}

export class PeerSubscriptions {
  readonly probes = new ProbeTracker();
  private readonly sockets = new Map<string, { socket: zmq.Subscriber; address: string }>();
  private closed = false;

  constructor(private readonly options: PeerSubscriptionsOptions) {}

  /** The address we read `peer` at, if we do. */
  addressOf(peer: string): string | undefined {
    return this.sockets.get(peer)?.address;
  }

  /** Starts reading `peer` at `address` on `topics` (a reconnect to a new address replaces the old socket). */
  connect(peer: string, address: string, topics: readonly string[], serverKey?: string): void {
    const current = this.sockets.get(peer);
    if (current?.address === address) return;
    if (current) this.disconnect(peer);
    const socket = openSocket("sub", this.options.maxMessageBytes, {
      linger: 0,
      receiveHighWaterMark: 0,
      ...(this.options.keys && serverKey ? curveClientOptions(this.options.keys, serverKey) : {}),
    });
    for (const t of topics) socket.subscribe(t);
    socket.subscribe(probeTopic(this.options.selfId));
    socket.connect(address);
    this.sockets.set(peer, { socket, address });
    void this.read(peer, socket);
  }

  subscribe(peer: string, topic: string): void {
    this.sockets.get(peer)?.socket.subscribe(topic);
  }

  unsubscribe(peer: string, topic: string): void {
    this.sockets.get(peer)?.socket.unsubscribe(topic);
  }

  /** Stops reading `peer`; its replacement must answer the probe again. */
  disconnect(peer: string): void {
    const s = this.sockets.get(peer);
    if (!s) return;
    this.sockets.delete(peer);
    this.probes.forget(peer);
    s.socket.close();
  }

  close(): void {
    this.closed = true;
    for (const peer of [...this.sockets.keys()]) this.disconnect(peer);
  }

  private read(peer: string, socket: zmq.Subscriber): Promise<void> {
    return readLoop(socket, {
      maxFrames: MAX_FRAMES.sub,
      drops: this.options.drops,
      log: this.options.log.child({ peer }),
      name: "subscription",
      onMessage: (frames) => {
        if (isProbeFrame(frames[0])) this.probes.record(frames);
        else this.options.onMessage(peer, frames);
      },
    });
  }
}
