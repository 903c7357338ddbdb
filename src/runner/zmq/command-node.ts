/**
 * CommandNode: the driver's sockets. A PUB outbox (XPUB, to see who has
 * subscribed) for commands to every runner, a ROUTER inbox for what runners
 * say to it (identify, status, error, heartbeat), and a SUB on every runner's
 * outbox to learn what happened. It decodes and checks every frame, drops and
 * counts the bad ones, and hands the good ones to its handlers.
 */
import * as zmq from "zeromq";
import type { Logger } from "pino";
import { Codec } from "../../protocol/codec.ts";
import { DropCounter } from "../../protocol/drops.ts";
import type { Message, MessageOf } from "../../protocol/message.ts";
import { SendQueue } from "../../transport/send-queue.ts";
import { curveServerOptions, type CurveKeyPair } from "../../transport/curve.ts";
import { ProbeTracker, isProbeFrame, probeReply, probeSubscriber, probeTopic } from "../../transport/subscription-probe.ts";
import { COMMAND_ID, COMMAND_TOPIC, PROCESS_TOPIC, doneTopic, eventTopic } from "./topics.ts";

export { COMMAND_ID };


export interface CommandHandlers {
  /** A message on the inbox from runner `from` (its routing id). */
  control(from: string, msg: Message): void;
  event(msg: MessageOf<"event">): void;
  /** A runner's command subscription reached the outbox: broadcasts now reach it. */
  subscribed(runnerId: string): void;
}

export interface CommandEndpoints {
  inbox: string;
  outbox: string;
}

export class CommandNode {
  readonly codec: Codec;
  readonly probes = new ProbeTracker();
  private readonly outbox = new zmq.XPublisher({ verbosity: "allSubs", linger: 0, sendHighWaterMark: 0 });
  // handover: a restarted runner or a reconnecting host takes its routing id back.
  private readonly inbox = new zmq.Router({ linger: 0, mandatory: false, handover: true, receiveHighWaterMark: 0 });
  private readonly events = new zmq.Subscriber({ linger: 0, receiveHighWaterMark: 0 });
  private readonly outQueue: SendQueue;
  private readonly inQueue: SendQueue;
  private readonly connected = new Set<string>();
  private readonly withValues = new Set<string>();
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
    const onErr = (err: unknown) => this.log.warn({ err }, "send failed");
    this.outQueue = new SendQueue(this.outbox, onErr);
    this.inQueue = new SendQueue(this.inbox, onErr);
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
      this.events.curvePublicKey = keys.publicKey;
      this.events.curveSecretKey = keys.secretKey;
    }
    await this.inbox.bind(inbox);
    await this.outbox.bind(outbox);
    this.events.subscribe(probeTopic(COMMAND_ID));
    void this.readInbox();
    void this.readOutbox();
    void this.readEvents();
    return { inbox: this.inbox.lastEndpoint ?? inbox, outbox: this.outbox.lastEndpoint ?? outbox };
  }

  /**
   * Subscribes to a runner: to its events with values, to which nodes finished
   * which epochs, or to nothing but the probe (its completions reach us through
   * the runners downstream of it). The runner shows up in `probes` once nothing
   * it publishes can be missed.
   */
  listenTo(runnerId: string, outbox: string, what: "values" | "done" | "probe", curveKey?: string): void {
    if (this.connected.has(runnerId)) return;
    this.connected.add(runnerId);
    if (what === "values") {
      this.events.subscribe(eventTopic(runnerId));
      this.withValues.add(runnerId);
      this.valuesFromStart.add(runnerId);
    } else if (what === "done") this.events.subscribe(doneTopic(runnerId));
    else this.probeOnly.add(runnerId);
    if (curveKey) this.events.curveServerKey = curveKey;
    this.events.connect(outbox);
  }

  /**
   * Whether every message of a runner reaches us with its values, from before
   * its first epoch (else its completions may come passed on by others, or
   * done-only; after `wantAllValues`, messages in flight may still come either way).
   */
  readsValuesOf(runnerId: string): boolean {
    return this.valuesFromStart.has(runnerId);
  }

  /** From now on, hear the values of every runner (someone listens to all events). */
  wantAllValues(): void {
    for (const id of this.connected) {
      if (this.withValues.has(id)) continue;
      this.withValues.add(id);
      this.events.subscribe(eventTopic(id));
      if (!this.probeOnly.delete(id)) this.events.unsubscribe(doneTopic(id));
    }
  }

  /** Stops listening to a runner (it died; a replacement may come at another address). */
  forget(runnerId: string, outbox: string): void {
    if (!this.connected.delete(runnerId)) return;
    if (!this.probeOnly.delete(runnerId)) this.events.unsubscribe(this.withValues.has(runnerId) ? eventTopic(runnerId) : doneTopic(runnerId));
    this.withValues.delete(runnerId);
    this.valuesFromStart.delete(runnerId);
    this.probes.forget(runnerId);
    try {
      this.events.disconnect(outbox);
    } catch {
      // already gone
    }
  }

  broadcast(msg: Message): void {
    if (!this.closed) this.outQueue.send(this.codec.encodePub(msg, msg.type === "process" ? PROCESS_TOPIC : COMMAND_TOPIC));
  }

  sendTo(runnerId: string, msg: Message): void {
    if (!this.closed) this.inQueue.send([Buffer.from(runnerId), ...this.codec.encode(msg)]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.race([Promise.all([this.outQueue.drained(), this.inQueue.drained()]), new Promise((r) => setTimeout(r, 200))]);
    this.outbox.close();
    this.inbox.close();
    this.events.close();
  }

  private async readInbox(): Promise<void> {
    try {
      for await (const frames of this.inbox) {
        const got = this.codec.decodeRouterSafe(frames);
        if (got) this.handlers.control(got.identity.toString("utf8"), got.message);
      }
    } catch (err) {
      if (!this.closed) this.log.error({ err }, "inbox failed");
    }
  }

  private async readOutbox(): Promise<void> {
    try {
      for await (const [frame] of this.outbox) {
        const subscriber = frame && probeSubscriber(frame);
        if (subscriber === undefined) continue;
        this.outQueue.send(probeReply(subscriber, COMMAND_ID));
        this.handlers.subscribed(subscriber);
      }
    } catch (err) {
      if (!this.closed) this.log.error({ err }, "outbox failed");
    }
  }

  private async readEvents(): Promise<void> {
    try {
      for await (const frames of this.events) {
        if (isProbeFrame(frames[0])) {
          this.probes.record(frames);
          continue;
        }
        const msg = this.codec.decodePubSafe(frames);
        if (!msg) continue;
        if (msg.type === "event") this.handlers.event(msg);
        else this.codec.drops.record("schema", `a ${msg.type} message on an event outbox`);
      }
    } catch (err) {
      if (!this.closed) this.log.error({ err }, "event subscription failed");
    }
  }
}
