/**
 * NodeRunner: the runner side of the ZeroMQ runtime, one per runner process.
 * Hosts one or more nodes, listens to the command node (SUB on its outbox,
 * CLIENT to its inbox), publishes its nodes' events on its own outbox (XPUB)
 * and subscribes directly to the outboxes of the runners its nodes read from.
 * Edges between nodes of the same process are plain calls through the
 * process's scheduler; only edges that cross processes are serialized.
 */
import * as zmq from "zeromq";
import type { Logger } from "pino";
import { NodeError } from "../../errors.ts";
import { Scheduler } from "../../graph/scheduler.ts";
import type { Tube } from "../../graph/tube.ts";
import { loadTubeFromSpec } from "../../spec/load.ts";
import { Codec, MAX_FRAMES } from "../../protocol/codec.ts";
import { clientSender, openSocket, readLoop, type Client } from "../../transport/sockets.ts";
import { DropCounter } from "../../protocol/drops.ts";
import { makeMessage, travelsIn, type CommandToRunner, type Message, type MessageIn, type MessageOf, type RunnerToCommand } from "../../protocol/message.ts";
import { processEpochs, type IdentifyValue } from "../../protocol/command-to-runner.ts";
import type { NodeStatus } from "../../protocol/common.ts";
import { nodeErrorToWire } from "../../protocol/node-error.ts";
import type { MetricPoint } from "../../protocol/runner-to-command.ts";
import { SendQueue } from "../../transport/send-queue.ts";
import { isProbeFrame, probeReply, probeSubscriber, probeTopic } from "../../transport/subscription-probe.ts";
import { PeerSubscriptions } from "../../transport/peer-subscriptions.ts";
import { ipcEndpoint } from "../../transport/address.ts";
import { curveClientOptions, curveServerOptions } from "../../transport/curve.ts";
import { ZapAuthenticator } from "../../transport/zap.ts";
import { instantiate, release, type Instances } from "../execute.ts";
import type { NodeMetric } from "../../node/metrics.ts";
import { endAssetEpoch } from "../../node/assets.ts";
import { nestedRuns } from "../local.ts";
import { TaskPump } from "../task-pump.ts";
import type { RunnerProcessConfig } from "../../protocol/runner-config.ts";
import { completionKey, groupEvents } from "./event-groups.ts";
import { EventBatch, finishedNodesOf } from "./event-batch.ts";
import { COMMAND_ID, COMMAND_TOPIC, PROCESS_TOPIC, allValuesTopic, doneTopic, eventTopic } from "./topics.ts";
import { HeartbeatThread, defaultHeartbeatWorker } from "./heartbeat-thread.ts";

export class NodeRunner {
  readonly id: string;
  private readonly config: RunnerProcessConfig;
  private readonly log: Logger;
  private readonly codec: Codec;
  private readonly nodeIds: string[];
  private readonly upstreamRunners: string[];
  private readonly outbox: zmq.XPublisher;
  private readonly control: Client;
  private readonly commands: zmq.Subscriber;
  private upstream!: PeerSubscriptions;
  private readonly outQueue: SendQueue;
  private readonly controlQueue: SendQueue;
  private tube!: Tube;
  private scheduler!: Scheduler;
  private instances: Instances = new Map();
  private pump: TaskPump | undefined;
  private status: NodeStatus = "stopped";
  private outboxAddress = "";
  /** Runners (and the command node) whose probe subscription reached our outbox. */
  private readonly subscribers = new Set<string>();
  private onSubscriber: (() => void) | undefined;
  private readonly downstreamRunners: string[];
  /** What this runner publishes after the current round of work (made once the tube is loaded). */
  private batch: EventBatch | undefined;
  /** Root-level nodes of each runner: what a `finished` entry of that runner stands for. */
  private rootNodesOf = new Map<string, string[]>();
  /** `ctx.log` metrics of this round of work, sent to the command node with its end. */
  private pendingMetrics: MetricPoint[] = [];
  private readonly metric = (m: NodeMetric): void => void this.pendingMetrics.push({ node_id: m.nodeId, name: m.name, value: m.value, step: m.step });
  /** A nested tube runs inside this runner process; its nodes' metrics travel with this runner's own. */
  private readonly nested = nestedRuns(this.metric);
  /** The init in progress, if any: it runs beside the read loop, not inside it. */
  private initializing: Promise<void> | undefined;
  private timers: NodeJS.Timeout[] = [];
  private heartbeat: HeartbeatThread | undefined;
  private readonly heartbeatWorker: string;
  private closing = false;
  private zap: ZapAuthenticator | undefined;
  private readonly exited: Promise<number>;
  private resolveExit!: (code: number) => void;
  /** This runner's nodes enabled or disabled at run time (by `enable`, or by `init` after a restart). */
  private readonly enabledNow = new Map<string, boolean>();
  /** `enable` messages are applied one at a time, beside the read loop: creating a node may take long. */
  private enabling: Promise<void> = Promise.resolve();

  /** `heartbeatWorker`: the script of the heartbeat thread (heartbeat-worker.ts; the runner's starter knows where it is built). */
  constructor(config: RunnerProcessConfig, id: string, log: Logger, heartbeatWorker: string = defaultHeartbeatWorker()) {
    this.config = config;
    this.heartbeatWorker = heartbeatWorker;
    this.id = id;
    this.log = log;
    this.codec = new Codec({ maxMessageBytes: config.maxMessageBytes, drops: new DropCounter(this.log) });
    const plan = config.runners[id];
    if (!plan) throw new Error(`runner "${id}" is not in the placement`);
    this.nodeIds = plan.nodes;
    this.upstreamRunners = plan.upstream;
    this.downstreamRunners = [COMMAND_ID, ...Object.values(config.runners).filter((r) => r.upstream.includes(id)).map((r) => r.id)];
    const limit = this.codec.maxMessageBytes;
    this.outbox = openSocket("xpub", limit, { verbosity: "allSubs", linger: 0, sendHighWaterMark: 0 });
    this.commands = openSocket("sub", limit, { linger: 0, receiveHighWaterMark: 0 });
    this.control = openSocket("client", limit, { linger: 1000 });
    const onSendError = (err: unknown) => this.log.warn({ err }, "send failed");
    this.outQueue = new SendQueue(this.outbox, onSendError);
    this.controlQueue = new SendQueue(clientSender(this.control), onSendError);
    this.exited = new Promise((r) => (this.resolveExit = r));
  }

  /** Binds, connects, identifies; resolves with the exit code once the runner is done. */
  async run(): Promise<number> {
    // First, so it is up by the time the command hears our identify (it counts us as up only then).
    this.startHeartbeat();
    this.tube = await loadTubeFromSpec(this.config.spec, { baseDir: this.config.baseDir, file: this.config.file, input: this.config.input });
    const local = new Set(this.nodeIds);
    this.scheduler = new Scheduler(this.tube, { local, tracked: local, firstEpoch: 0 });
    this.batch = new EventBatch(this.id, readElsewhere(this.tube, local));
    this.rootNodesOf = finishedNodesOf(this.tube, Object.values(this.config.runners));

    const curve = this.config.curve;
    if (curve) {
      // Only the command node and the run's hosts may connect to this runner's outbox.
      this.zap = await ZapAuthenticator.start({ trusted: [curve.commandKey, curve.publicKey, ...curve.trusted], logger: this.log });
      const pair = { publicKey: curve.publicKey, secretKey: curve.secretKey };
      Object.assign(this.outbox, curveServerOptions(pair));
      Object.assign(this.commands, curveClientOptions(pair, curve.commandKey));
      Object.assign(this.control, curveClientOptions(pair, curve.commandKey));
    }
    this.upstream = new PeerSubscriptions({
      selfId: this.id,
      ...(curve ? { keys: { publicKey: curve.publicKey, secretKey: curve.secretKey } } : {}),
      log: this.log,
      maxMessageBytes: this.codec.maxMessageBytes,
      drops: this.codec.drops,
      onMessage: (_peer, frames) => {
        const msg = this.codec.decodePubSafe(frames);
        if (msg && this.accept(msg, "runnerToRunner", "an upstream runner's outbox")) this.onEvent(msg);
      },
    });
    const ob = this.config.outbox;
    if (ob.transport === "ipc") {
      this.outboxAddress = ipcEndpoint(ob.dir, `runner-${this.id}`);
      await this.outbox.bind(this.outboxAddress);
    } else {
      await this.outbox.bind(`tcp://${ob.bind}:0`);
      const port = new URL(this.outbox.lastEndpoint!.replace("tcp://", "http://")).port;
      this.outboxAddress = `tcp://${ob.advertise}:${port}`;
    }
    this.commands.connect(this.config.commandOutbox);
    this.commands.subscribe(COMMAND_TOPIC);
    if (this.nodeIds.some((id) => needsProcessMessages(this.tube, id))) this.commands.subscribe(PROCESS_TOPIC);
    this.commands.subscribe(probeTopic(this.id));
    this.control.connect(this.config.commandInbox);

    // Per-node figures (runs, errors, events per signal, process times) and the frames this runner
    // dropped go to the command node for status() and stats(), only when they moved.
    let reported = 0;
    let dropped = 0;
    this.timers.push(
      setInterval(() => {
        const m = this.pump?.metrics;
        const drops = this.codec.drops.total;
        if ((m?.total ?? 0) === reported && drops === dropped) return;
        reported = m?.total ?? 0;
        dropped = drops;
        this.sendControl(makeMessage("node_metrics", this.id, { nodes: m?.report() ?? {}, ...(drops > 0 ? { drops: this.codec.drops.stats() } : {}) }));
      }, this.config.heartbeatMs),
    );
    void this.readSubscriptions();
    void this.readCommands();
    void this.readControl();
    this.sendControl(makeMessage("identify", this.id, { ...this.identity(), token: this.config.runToken }));
    this.log.debug({ outbox: this.outboxAddress, nodes: this.nodeIds }, "runner up");
    return this.exited;
  }

  /**
   * Heartbeats leave from their own thread (heartbeat-thread.ts), so a node
   * computing without a break does not silence this process; the main thread
   * refreshes what they say (status, and its own last timestamp) whenever it runs.
   */
  private startHeartbeat(): void {
    const curve = this.config.curve;
    this.heartbeat = new HeartbeatThread(
      this.heartbeatWorker,
      {
        inbox: this.config.commandInbox,
        intervalMs: this.config.heartbeatMs,
        commandTimeoutMs: this.config.commandTimeoutMs,
        maxMessageBytes: this.codec.maxMessageBytes,
        ...(curve ? { curve: { publicKey: curve.publicKey, secretKey: curve.secretKey, commandKey: curve.commandKey } } : {}),
      },
      {
        commandGone: (silentMs) => {
          this.log.warn({ silentMs }, "the command node is gone; exiting");
          void this.shutdown(0);
        },
        failed: (err) => {
          this.log.fatal({ err }, "without its heartbeat thread this runner cannot prove it is alive; exiting");
          void this.shutdown(70);
        },
      },
      this.log,
    );
    this.beat();
    this.timers.push(setInterval(() => this.beat(), this.config.heartbeatMs));
  }

  private beat(): void {
    const [frame] = this.codec.encode(makeMessage("heartbeat", this.id, { status: this.status, token: this.config.runToken }));
    this.heartbeat?.beat(frame as Buffer);
  }

  private identity(): IdentifyValue {
    const nodes: NonNullable<IdentifyValue["nodes"]> = {};
    for (const id of this.nodeIds) {
      const n = this.tube.nodes.get(id)!;
      nodes[id] = { signals: [...n.signals], slots: n.definition.slots === "any" ? n.edges.map((e) => e.slot) : Object.keys(n.definition.slots) };
    }
    const only = this.nodeIds.length === 1 ? nodes[this.nodeIds[0]!] : undefined;
    return {
      node_id: this.id,
      outbox: this.outboxAddress,
      status: this.status,
      signals: only ? only.signals : null,
      slots: only ? only.slots : null,
      subscribed_to: this.upstreamRunners,
      subscribers: [...this.subscribers],
      pid: process.pid,
      nodes,
      ...(this.config.curve ? { curve_key: this.config.curve.publicKey } : {}),
    };
  }

  private sendControl(msg: RunnerToCommand): void {
    if (this.closing && msg.type !== "status") return;
    this.controlQueue.send(this.codec.encode(msg));
  }

  private setStatus(status: NodeStatus, detail?: string): void {
    this.status = status;
    this.beat();
    this.sendControl(makeMessage("status", this.id, { status, ...(detail ? { detail } : {}) }));
  }

  private readSubscriptions(): Promise<void> {
    const values = Buffer.from(`\u0001${eventTopic(this.id)}`);
    const done = Buffer.from(`\u0001${doneTopic(this.id)}`);
    const all = Buffer.from(`\u0001${allValuesTopic(this.id)}`);
    return readLoop(this.outbox, {
      // Subscriptions are one frame; anything else a peer sends upstream is not ours to read.
      maxFrames: 1,
      drops: this.codec.drops,
      log: this.log,
      name: "runner outbox",
      onMessage: ([frame]) => {
        if (!frame) return;
        if (frame.equals(values)) this.publishValues = true;
        else if (frame.equals(done)) this.publishDone = true;
        else if (frame.equals(all) && this.batch) this.batch.allEvents = true;
        const subscriber = probeSubscriber(frame);
        if (subscriber === undefined) return;
        this.outQueue.send(probeReply(subscriber, this.id));
        this.subscribers.add(subscriber);
        this.onSubscriber?.();
      },
    });
  }

  private readCommands(): Promise<void> {
    return readLoop(this.commands, {
      maxFrames: MAX_FRAMES.sub,
      drops: this.codec.drops,
      log: this.log,
      name: "command subscription",
      onMessage: async (frames) => {
        // The command's answer to our probe: its outbox has our subscription (the command knows it too).
        if (isProbeFrame(frames[0])) return;
        const msg = this.codec.decodePubSafe(frames);
        if (msg && this.accept(msg, "commandToRunner", "the command subscription")) await this.onCommand(msg);
      },
    });
  }

  /** The CLIENT only carries replies we do not expect; read it so a peer cannot fill its queue. */
  private readControl(): Promise<void> {
    return readLoop(this.control, {
      maxFrames: 1,
      drops: this.codec.drops,
      log: this.log,
      name: "control socket",
      onMessage: async (frames) => {
        const msg = this.codec.decodeSafe(frames);
        if (msg && this.accept(msg, "commandToRunner", "the control socket")) await this.onCommand(msg);
      },
    });
  }

  /**
   * Whether a message may arrive where it did: commands on the command
   * channels, events on the event channel. Anything else (a runner's identify
   * echoed back, an event on the command channel) is dropped, counted and
   * logged once per kind, as the command inbox does.
   */
  private accept<D extends "commandToRunner" | "runnerToRunner">(msg: Message, direction: D, where: string): msg is MessageIn<D> {
    if (travelsIn(msg, [direction])) return true;
    this.codec.drops.record("schema", `a ${msg.type} message on ${where}, where it does not travel`, { from: msg.node_id });
    return false;
  }

  private async onCommand(msg: CommandToRunner): Promise<void> {
    switch (msg.type) {
      case "announce":
        this.onAnnounce(msg);
        return;
      case "init":
        // Not awaited: a node's init may take long (or never end), and meanwhile the read loop must
        // go on hearing the driver, or the runner takes the silence for a driver gone and exits.
        for (const [id, on] of Object.entries(msg.value?.enabled ?? {})) if (this.nodeIds.includes(id)) this.enabledNow.set(id, on);
        this.initializing ??= this.onInit(msg.value?.first_epoch ?? 0)
          .catch((err: unknown) => this.log.error({ err }, "init failed"))
          .finally(() => (this.initializing = undefined));
        return;
      case "process":
        for (const { epoch, input } of processEpochs(msg.value)) this.scheduler.openEpoch(epoch, input ?? {});
        this.pump?.pump();
        return;
      case "start":
        if (this.status === "ready") this.setStatus("running");
        return;
      case "stop":
        if (this.status === "running") this.setStatus("ready");
        return;
      case "epoch_ended": {
        const e = msg.value.epoch;
        this.scheduler.closeEpoch(typeof e === "number" ? e : e[0]);
        return;
      }
      case "deinit":
        await this.onDeinit(msg.value?.stay ?? false);
        return;
      case "enable": {
        const { node, enabled } = msg.value;
        if (!this.nodeIds.includes(node)) return;
        this.enabling = this.enabling.then(() => this.onEnable(node, enabled)).catch((err: unknown) => this.log.error({ err, node }, "enable failed"));
        return;
      }
      case "ping":
        this.sendControl(makeMessage("identify", this.id, { ...this.identity(), token: this.config.runToken }));
        return;
      default:
        return;
    }
  }

  private onAnnounce(msg: MessageOf<"announce">): void {
    // A restarted upstream runner comes back at a new address: its socket is replaced and it must answer the probe again.
    for (const up of this.upstreamRunners) {
      const peer = msg.value.nodes[up];
      if (peer) this.upstream.connect(up, peer.outbox, [eventTopic(up)], peer.curve_key);
    }
  }

  private async onInit(firstEpoch: number): Promise<void> {
    if (this.status !== "stopped") return;
    const local = new Set(this.nodeIds);
    this.scheduler = new Scheduler(this.tube, { local, tracked: local, firstEpoch });
    for (const [id, on] of this.enabledNow) this.scheduler.setEnabled(id, on);
    try {
      this.instances = await instantiate(this.tube, this.nested, local);
      const added = this.nodeIds.filter((id) => this.enabledNow.get(id) === true && !this.instances.has(id));
      if (added.length > 0) for (const [k, v] of await instantiate(this.tube, this.nested, new Set(added), this.instances)) this.instances.set(k, v);
    } catch (err) {
      const e = err instanceof NodeError ? err : NodeError.from(this.id, undefined, err, "TUBULAR_ERR_NODE_INIT");
      this.sendError(e);
      this.setStatus("stopped", `init failed: ${e.message}`);
      return;
    }
    this.pump = new TaskPump(this.scheduler, this.instances, {
      completed: (task, emitted) => this.batch!.completed(task, emitted),
      failed: (task, err) => this.batch!.failed(task, err),
      settled: () => this.afterPump(),
      metric: this.metric,
    }, { sliceMs: 50 });
    this.setStatus("waiting");
    // Ready means: every upstream publisher has our subscription, and every subscriber has subscribed to us.
    await Promise.all([this.upstream.probes.waitFor(this.upstreamRunners), this.subscribersSeen()]);
    this.setStatus("ready");
  }

  /**
   * Runs or skips one of this runner's nodes from the next epoch it is
   * scheduled in, creating it first if it never was; then tells the command
   * node (a `status` naming the node), which waits for that before it goes on.
   * A node that fails to be created stays disabled: its error goes first.
   */
  private async onEnable(node: string, enabled: boolean): Promise<void> {
    await this.initializing;
    let now = enabled;
    // Not initialized yet (or deinitialized to stay): the next init creates it.
    if (enabled && this.pump && !this.instances.has(node)) {
      try {
        for (const [k, v] of await instantiate(this.tube, this.nested, new Set([node]), this.instances)) this.instances.set(k, v);
      } catch (err) {
        this.sendError(err instanceof NodeError ? err : NodeError.from(node, undefined, err, "TUBULAR_ERR_NODE_INIT"));
        now = this.enabledNow.get(node) ?? this.tube.nodes.get(node)!.enabled;
      }
    }
    this.enabledNow.set(node, now);
    this.scheduler.setEnabled(node, now);
    this.sendControl(makeMessage("status", this.id, { status: this.status, node_id: node, enabled: now }));
  }

  private subscribersSeen(): Promise<void> {
    return new Promise((resolve) => {
      const check = () => this.downstreamRunners.every((id) => this.subscribers.has(id));
      if (check()) return resolve();
      this.onSubscriber = () => {
        if (!check()) return;
        this.onSubscriber = undefined;
        resolve();
      };
    });
  }

  private async onDeinit(stay: boolean): Promise<void> {
    this.pump?.cancel();
    const errors = await release(this.instances);
    for (const e of errors) this.sendError(e as NodeError);
    this.pump = undefined;
    const local = new Set(this.nodeIds);
    this.scheduler = new Scheduler(this.tube, { local, tracked: local, firstEpoch: 0 });
    if (stay) {
      this.setStatus("stopped");
      return;
    }
    this.setStatus("closed");
    await this.shutdown(0);
  }

  private onEvent(msg: MessageOf<"event">): void {
    const { events, done, finished } = msg.value;
    const groups = groupEvents(this.tube, events);
    const own = this.config.runners[msg.node_id]?.nodes;
    const batch = this.batch!;
    for (const entry of done) {
      // Only the sender's own completions come with their events; the ones it passes on come
      // without, and this runner hears those nodes' own messages (with their events) directly.
      if (own?.includes(entry[0])) this.scheduler.complete(entry[0], entry[1], groups.get(completionKey(entry[0], entry[1])) ?? []);
      batch.passOn(entry);
    }
    if (finished) {
      for (const entry of finished) {
        const [runner, key] = entry;
        const nodes = runner === msg.node_id ? this.rootNodesOf.get(runner) : undefined;
        if (nodes) this.scheduler.completeAll(nodes, key, (n) => groups.get(completionKey(n, key)) ?? []);
        batch.passOnFinished(entry);
      }
    }
    this.pump?.pump();
  }

  /** A failure outside any epoch (init, deinit) goes to the command node on the control channel. */
  private sendError(err: NodeError): void {
    this.sendControl(makeMessage("error", this.id, nodeErrorToWire(err, this.id)));
  }

  private afterPump(): void {
    const completed = this.scheduler.takeCompleted();
    let finished: Set<string> | undefined;
    for (const root of completed) {
      this.scheduler.closeEpoch(root);
      (finished ??= new Set()).add(String(root));
      // This process is done with the epoch: its process-scoped assets go (before its events leave, when their release is synchronous).
      endAssetEpoch(this.instances, root)?.catch((err: unknown) => this.log.warn({ err }, "an asset's release failed"));
    }
    // One outgoing message per round of work: a received batch of events (or epochs) becomes one batch out.
    this.flush(finished);
    if (this.pendingMetrics.length > 0) {
      const metrics = this.pendingMetrics;
      this.pendingMetrics = [];
      this.sendControl(makeMessage("metrics", this.id, { metrics }));
    }
  }

  /** Whether anyone subscribed to this runner's events with values, or to its done-only messages. */
  private publishValues = false;
  private publishDone = false;

  private flush(finished?: ReadonlySet<string>): void {
    const value = this.batch?.take(finished);
    if (!value) return;
    try {
      if (this.publishValues) this.outQueue.send(this.codec.encodePub(makeMessage("event", this.id, value), eventTopic(this.id)));
      if (this.publishDone) {
        const doneOnly = value.finished ? { events: [], done: value.done, finished: value.finished } : { events: [], done: value.done };
        this.outQueue.send(this.codec.encodePub(makeMessage("event", this.id, doneOnly), doneTopic(this.id)));
      }
    } catch (err) {
      this.log.error({ err }, "could not encode events");
    }
  }

  /** Releases everything and ends the process's work. */
  async shutdown(code: number): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const t of this.timers) clearInterval(t);
    this.flush();
    if (this.instances.size > 0) await release(this.instances);
    await Promise.race([Promise.all([this.outQueue.drained(), this.controlQueue.drained()]), new Promise((r) => setTimeout(r, 500))]);
    for (const s of [this.outbox, this.commands, this.control]) s.close();
    this.upstream?.close();
    await this.heartbeat?.stop();
    await this.zap?.close();
    this.resolveExit(code);
  }
}

/** Sources, nodes fed only by tube inputs or assets, and readers of process inputs must hear of every epoch opened. */
function needsProcessMessages(tube: Tube, nodeId: string): boolean {
  const edges = tube.nodes.get(nodeId)!.edges;
  return edges.every((e) => e.source.kind !== "node") || edges.some((e) => e.source.kind === "input" && e.source.scope === "process");
}

/**
 * This runner's nodes whose events someone outside the process reads: those
 * with a reader in another process (or the driver), and maps (their items
 * open sub-epochs in every scheduler that tracks the map's readers).
 */
function readElsewhere(tube: Tube, local: ReadonlySet<string>): Set<string> {
  const out = new Set<string>();
  for (const id of local) {
    if (tube.nodes.get(id)!.definition.special === "map" || tube.downstream.get(id)!.some((d) => !local.has(d))) out.add(id);
  }
  return out;
}
