/**
 * CommandNode: the driver's sockets. A PUB outbox (XPUB, to see who has
 * subscribed) for commands to every runner, a SERVER inbox for what runners
 * say to it (identify, status, error, heartbeat), and a SUB on every runner's
 * outbox to learn what happened. It decodes and checks every frame, drops and
 * counts the bad ones, and hands the good ones to its handlers.
 */
import * as zmq from "zeromq";
import type { Logger } from "pino";
import { Codec, MAX_FRAMES, ProtocolError } from "../../protocol/codec.ts";
import { openSocket, readLoop, serverSender, type Server } from "../../transport/sockets.ts";
import { DropCounter } from "../../protocol/drops.ts";
import { travelsIn, type CommandToHost, type CommandToOperator, type CommandToRunner, type HostToCommand, type Message, type MessageOf, type OperatorToCommand, type RunnerToCommand } from "../../protocol/message.ts";
import { SendQueue } from "../../transport/send-queue.ts";
import { curveServerOptions, type CurveKeyPair } from "../../transport/curve.ts";
import { PeerSubscriptions } from "../../transport/peer-subscriptions.ts";
import { probeReply, probeSubscriber, type ProbeTracker } from "../../transport/subscription-probe.ts";
import { COMMAND_ID, COMMAND_TOPIC, PROCESS_TOPIC, allValuesTopic, doneTopic, eventTopic } from "./topics.ts";

export { COMMAND_ID };


export interface CommandHandlers {
  /** A message on the inbox from connection `from` (its routing id): a runner's, a host agent's or an operator's. */
  control(from: string, msg: InboxMessage): void;
  event(msg: MessageOf<"event">): void;
  /** A runner's command subscription reached the outbox: broadcasts now reach it. */
  subscribed(runnerId: string): void;
  /**
   * A runner's own outbox sent something that does not decode. Only that
   * runner publishes there, so this is not a stranger's noise but a broken
   * peer (another version, a corrupt codec): the run cannot count on its
   * events and must fail rather than wait for them.
   */
  corrupt(runnerId: string, err: ProtocolError): void;
}

/** What may arrive on the command inbox; anything else is dropped and counted. */
export type InboxMessage = RunnerToCommand | HostToCommand | OperatorToCommand;
const INBOX = ["runnerToCommand", "hostToCommand", "operatorToCommand"] as const;

export interface CommandEndpoints {
  inbox: string;
  outbox: string;
}

export class CommandNode {
  readonly codec: Codec;
  private readonly outbox: zmq.XPublisher;
  private readonly inbox: Server;
  private events!: PeerSubscriptions;
  private readonly outQueue: SendQueue;
  private readonly inQueue: SendQueue;
  private readonly connected = new Set<string>();
  private readonly withValues = new Set<string>();
  /** Runners told (allValuesTopic) that we want every event of theirs. */
  private readonly allValues = new Set<string>();
  private readonly probeOnly = new Set<string>();
  private readonly valuesFromStart = new Set<string>();
  private closed = false;
  private readonly log: Logger;

  constructor(
    private readonly handlers: CommandHandlers,
    log: Logger,
    maxMessageBytes?: number,
  ) {
    this.log = log.child({ component: "command" });
    this.codec = new Codec({ ...(maxMessageBytes ? { maxMessageBytes } : {}), drops: new DropCounter(this.log) });
    this.outbox = openSocket("xpub", this.codec.maxMessageBytes, { verbosity: "allSubs", linger: 0, sendHighWaterMark: 0 });
    // A SERVER: one frame per message, connections named by libzmq (see transport/sockets.ts).
    this.inbox = openSocket("server", this.codec.maxMessageBytes, { linger: 0, receiveHighWaterMark: 0 });
    const onErr = (err: unknown) => this.log.warn({ err }, "send failed");
    this.outQueue = new SendQueue(this.outbox, onErr);
    this.inQueue = new SendQueue(serverSender(this.inbox), onErr);
  }

  /**
   * Binds inbox and outbox; for tcp give `tcp://HOST:0` and read the chosen
   * ports back. With `keys`, both are CurveZMQ servers (the process's ZAP
   * handler decides who gets in) and event subscriptions are CURVE clients.
   */
  async bind(inbox: string, outbox: string, keys?: CurveKeyPair): Promise<CommandEndpoints> {
    if (keys) {
      Object.assign(this.inbox, curveServerOptions(keys));
      Object.assign(this.outbox, curveServerOptions(keys));
    }
    this.events = new PeerSubscriptions({ selfId: COMMAND_ID, ...(keys ? { keys } : {}), log: this.log, maxMessageBytes: this.codec.maxMessageBytes, drops: this.codec.drops, onMessage: (peer, frames) => this.onEventFrames(peer, frames) });
    await this.inbox.bind(inbox);
    await this.outbox.bind(outbox);
    void this.readInbox();
    void this.readOutbox();
    return { inbox: this.inbox.lastEndpoint ?? inbox, outbox: this.outbox.lastEndpoint ?? outbox };
  }

  /**
   * Subscribes to a runner: to every event of its nodes (someone listens to
   * `event`), to the events its readers need with its completions, to which
   * nodes finished which epochs, or to nothing but the probe (its completions
   * reach us through the runners downstream of it). The runner shows up in
   * `probes` once nothing it publishes can be missed.
   */
  listenTo(runnerId: string, outbox: string, what: "all" | "values" | "done" | "probe", curveKey?: string): void {
    if (this.connected.has(runnerId)) return;
    this.connected.add(runnerId);
    const topics: string[] = [];
    if (what === "all") {
      topics.push(allValuesTopic(runnerId));
      this.allValues.add(runnerId);
    }
    if (what === "values" || what === "all") {
      topics.push(eventTopic(runnerId));
      this.withValues.add(runnerId);
      this.valuesFromStart.add(runnerId);
    } else if (what === "done") topics.push(doneTopic(runnerId));
    else this.probeOnly.add(runnerId);
    this.events.connect(runnerId, outbox, topics, curveKey);
  }

  /** Which runners' subscriptions have been answered: nothing they publish from then on is missed. */
  get probes(): ProbeTracker {
    return this.events.probes;
  }

  /**
   * Whether every message of a runner reaches us with its values, from before
   * its first epoch (else its completions may come passed on by others, or
   * done-only; after `wantAllValues`, messages in flight may still come either way).
   */
  readsValuesOf(runnerId: string): boolean {
    return this.valuesFromStart.has(runnerId);
  }

  /**
   * From now on, hear every event of every runner (someone listens to all
   * events). A runner learns it with the subscription: its messages already
   * under way still carry only the events its readers need.
   */
  wantAllValues(): void {
    for (const id of this.connected) {
      if (!this.allValues.has(id)) {
        this.allValues.add(id);
        this.events.subscribe(id, allValuesTopic(id));
      }
      if (this.withValues.has(id)) continue;
      this.withValues.add(id);
      this.events.subscribe(id, eventTopic(id));
      if (!this.probeOnly.delete(id)) this.events.unsubscribe(id, doneTopic(id));
    }
  }

  /** Stops listening to a runner (it died; a replacement may come at another address). */
  forget(runnerId: string): void {
    if (!this.connected.delete(runnerId)) return;
    this.probeOnly.delete(runnerId);
    this.withValues.delete(runnerId);
    this.allValues.delete(runnerId);
    this.valuesFromStart.delete(runnerId);
    this.events.disconnect(runnerId);
  }

  /** Publishes to every runner (the command outbox). Only command-to-runner messages type-check. */
  broadcast(msg: CommandToRunner): void {
    if (!this.closed) this.outQueue.send(this.codec.encodePub(msg, msg.type === "process" ? PROCESS_TOPIC : COMMAND_TOPIC));
  }

  /** Sends on the inbox to one connection (its id as `control` gave it): a host agent or an operator. */
  sendTo(connection: string, msg: CommandToHost | CommandToOperator): void {
    if (!this.closed) this.inQueue.send([connection, ...this.codec.encode(msg)]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.race([Promise.all([this.outQueue.drained(), this.inQueue.drained()]), new Promise((r) => setTimeout(r, 200))]);
    this.outbox.close();
    this.inbox.close();
    this.events?.close();
  }

  private readInbox(): Promise<void> {
    return readLoop(this.inbox, {
      maxFrames: 2,
      drops: this.codec.drops,
      log: this.log,
      name: "command inbox",
      onMessage: (frames) => {
        const [payload, meta] = frames;
        const msg = this.codec.decodeSafe([payload]);
        if (!msg) return;
        if (travelsIn(msg, INBOX)) this.handlers.control(String(meta.routingId), msg);
        else this.codec.drops.record("schema", `a ${msg.type} message on the command inbox, where it does not travel`);
      },
    });
  }

  private readOutbox(): Promise<void> {
    return readLoop(this.outbox, {
      // Subscriptions are one frame; anything else a peer sends upstream is not ours to read.
      maxFrames: 1,
      drops: this.codec.drops,
      log: this.log,
      name: "command outbox",
      onMessage: ([frame]) => {
        const subscriber = frame && probeSubscriber(frame);
        if (subscriber === undefined) return;
        this.outQueue.send(probeReply(subscriber, COMMAND_ID));
        this.handlers.subscribed(subscriber);
      },
    });
  }

  private onEventFrames(runnerId: string, frames: Buffer[]): void {
    let msg: Message;
    try {
      msg = this.codec.decodePub(frames);
      if (msg.type !== "event") throw new ProtocolError("schema", `a ${msg.type} message on an event outbox`);
    } catch (err) {
      const e = err instanceof ProtocolError ? err : new ProtocolError("garbage", String(err));
      this.codec.drops.record(e.kind, e.message, { runner: runnerId });
      this.handlers.corrupt(runnerId, e);
      return;
    }
    this.handlers.event(msg);
  }
}
