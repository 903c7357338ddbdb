/**
 * ZmqRunner: runs a tube across node runner processes that talk ZeroMQ.
 * The driver holds the command node (its sockets), the scheduler that tracks
 * every epoch to its end, and the node that needs no process (the return
 * node). Events flow between runners directly; the command
 * node hears all of them to learn return values and the end of each epoch.
 */
import { randomBytes } from "node:crypto";
import { availableParallelism } from "node:os";
import { NodeError, RunnerDiedError, TubularError } from "../../errors.ts";
import { resolveProcessInput } from "../../graph/process-input.ts";
import { Scheduler, type Emitted } from "../../graph/scheduler.ts";
import type { Tube } from "../../graph/tube.ts";
import { rootLogger, type Logger } from "../../log.ts";
import { parseZmqRunnerOptions, type ResolvedZmqRunnerOptions, type ZmqRunnerOptions } from "./options.ts";
import type { NodeStatus } from "../../protocol/common.ts";
import { makeMessage, type Message, type MessageOf } from "../../protocol/message.ts";
import { ProtocolError } from "../../protocol/codec.ts";
import { nodeErrorFromWire } from "../../protocol/node-error.ts";
import type { RunStatus } from "../../protocol/status-report.ts";
import { HostRegistry } from "./host-registry.ts";
import { Conditions } from "./conditions.ts";
import { HeartbeatMonitor } from "../../transport/heartbeat.ts";
import { RunnerLiveness } from "./liveness.ts";
import { instantiate, release, type Instances } from "../execute.ts";
import { LocalRunner } from "../local.ts";
import type { RunnerEvents, RunnerState, TubeEvent } from "../runner.ts";
import { EpochRunner } from "../epoch-runner.ts";
import { TaskPump } from "../task-pump.ts";
import type { NodeMetricsReport } from "../node-metrics.ts";
import { CommandNode, COMMAND_ID, type InboxMessage } from "./command-node.ts";
import { DRIVER, placeNodes, upstreamNodes, type Placement } from "./placement.ts";
import { completionKey, groupEvents } from "./event-groups.ts";
import { describeExit, type ExitInfo } from "./runner-supervisor.ts";
import { defaultProcessesPerHost } from "./packing.ts";
import { Roster } from "./roster.ts";
import { Bootstrap } from "./bootstrap.ts";

export type { ZmqRunnerOptions } from "./options.ts";

export type { NodeReport, RunStatus } from "../../protocol/status-report.ts";

export interface ZmqRunnerStats {
  /** Frames the command node dropped, by kind. */
  drops: Record<string, number>;
  runners: Record<string, { pid: number | undefined; status: NodeStatus | "unknown"; nodes: readonly string[] }>;
  epochsCompleted: number;
  /** CurveZMQ connections accepted and refused by this process's ZAP handler (with `keys`). */
  auth?: { accepted: number; refused: number };
}

export class ZmqRunner extends EpochRunner {
  readonly placement: Placement;
  private readonly options: ResolvedZmqRunnerOptions;
  private readonly log: Logger;
  /** The run's processes, sockets and files, and how they come up. */
  private readonly boot: Bootstrap;
  /** One record per runner process: everything the driver knows of it. */
  private readonly roster: Roster;
  private readonly liveness: RunnerLiveness;
  private timers: NodeJS.Timeout[] = [];
  private readonly conditions = new Conditions(() => this.initError ?? this.fatal);
  private scheduler: Scheduler;
  private instances: Instances = new Map();
  private pump: TaskPump | undefined;
  private fatal: Error | undefined;
  private readonly hosts = new HostRegistry();
  /** The last per-node figures each runner reported (its `node_metrics` message), by node. */
  private readonly metricsByNode = new Map<string, NodeMetricsReport & { receivedAt: number }>();
  /** The run's secret: only an identify carrying it binds a runner to a connection. */
  private readonly runToken = randomBytes(16).toString("hex");
  private readonly hostHeartbeats: HeartbeatMonitor;
  private initError: Error | undefined;
  private closing = false;
  /** Nodes enabled or disabled at run time: a restarted runner is given them with its init. */
  private readonly enabledNow = new Map<string, boolean>();
  /** A hosting runner's answer to `enable`, per node, while one is awaited; and a failure to create the node. */
  private readonly enableAnswers = new Map<string, boolean>();
  private readonly enableFailures = new Map<string, NodeError>();
  private readonly enablePending = new Set<string>();
  /** enableNode / disableNode calls, one at a time. */
  private enabling: Promise<void> = Promise.resolve();

  constructor(tube: Tube, options: ZmqRunnerOptions = {}) {
    super(tube);
    this.options = parseZmqRunnerOptions(options);
    // A child logger with its own level: the process's root level is not this runner's to change.
    this.log = rootLogger().child({ component: "zmq-runner", tube: tube.id }, this.options.logLevel ? { level: this.options.logLevel } : {});
    this.placement = placeNodes(tube, { mode: this.options.processes, processesPerHost: this.options.processesPerHost ?? defaultProcessesPerHost(availableParallelism()) });
    this.roster = new Roster(this.placement, (id) => upstreamNodes(tube, id));
    this.scheduler = new Scheduler(tube, { local: this.placement.driverNodes, firstEpoch: 0 });
    this.liveness = new RunnerLiveness({
      timeoutMs: this.options.heartbeatMs * 4,
      runToken: this.runToken,
      isRunner: (id) => this.placement.runners.has(id),
      // Not while closing: the runners are exiting, and a reply to a connection gone is only noise.
      reply: (connection) => this.closing || this.command?.sendTo(connection, makeMessage("heartbeat", COMMAND_ID, null)),
      refuse: (reason) => this.command?.codec.drops.record("schema", reason),
      onDead: (runnerId, silentMs) => {
        // A runner on a host agent is restarted by it (runner_exit tells); one that just went silent is lost.
        if (!this.roster.isRestarting(runnerId)) this.runnerDown(runnerId, `stopped answering heartbeats (silent for ${silentMs} ms)`, false);
      },
    });
    this.hostHeartbeats = new HeartbeatMonitor({
      timeoutMs: Math.max(2000, this.options.heartbeatMs * 8),
      onDead: (name, silentMs) => this.hostLost(name, `host agent "${name}" stopped answering (silent for ${silentMs} ms)`),
    });
    if (options.listen && !options.keys) throw new TubularError("TUBULAR_ERR_KEY", "listening for host agents needs the command node's keys (--keys DIR)");
    this.boot = new Bootstrap({
      tube,
      placement: this.placement,
      options: this.options,
      log: this.log,
      roster: this.roster,
      hosts: this.hosts,
      conditions: this.conditions,
      runToken: this.runToken,
      heard: (runnerId) => this.liveness.heard(runnerId),
      onExit: (info) => this.onExit(info),
      handlers: {
        control: (from, msg) => this.onControl(from, msg),
        event: (msg) => this.onEvent(msg),
        subscribed: (runnerId) => {
          const r = this.roster.get(runnerId);
          if (r) r.subscribed = true;
          this.conditions.changed();
        },
        corrupt: (runnerId, err) => {
          this.log.error({ runner: runnerId, err }, "undecodable message from a runner's own outbox");
          const nodes = this.placement.runners.get(runnerId)?.nodes ?? [runnerId];
          this.failRun(new ProtocolError(err.kind, `the runner of ${nodes.join(", ")} sent a message that cannot be decoded (${err.message}); the run cannot count on its events`, { runner: runnerId, nodes }));
        },
      },
    });
  }

  private get command(): CommandNode | undefined {
    return this.boot.command;
  }

  override on<K extends keyof RunnerEvents>(name: K, listener: RunnerEvents[K]): this {
    if (name === "event") this.command?.wantAllValues();
    return super.on(name, listener);
  }

  /** Pids of the runner processes, by runner id. */
  pids(): Record<string, number | undefined> {
    const out: Record<string, number | undefined> = {};
    for (const id of this.placement.runners.keys()) out[id] = this.pidOf(id);
    return out;
  }

  private pidOf(runnerId: string): number | undefined {
    const local = this.boot.processes?.pid(runnerId);
    if (local !== undefined) return local;
    return this.roster.get(runnerId)?.identity?.pid;
  }

  /** Hosts, their resources, and each node's runner, host, pid, status, restarts and epochs processed. */
  status(): RunStatus {
    const now = Date.now();
    const hosts: RunStatus["hosts"] = {};
    for (const h of this.hosts.hosts.values()) {
      hosts[h.name] = { labels: h.labels, resources: h.resources, pid: h.pid, alive: now - h.lastSeen < this.hostHeartbeats.timeoutMs, runners: h.assigned };
    }
    const nodes: RunStatus["nodes"] = {};
    for (const r of this.roster.all()) {
      for (const node of r.plan.nodes) {
        nodes[node] = { runner: r.id, host: r.host, pid: this.pidOf(r.id) ?? null, status: Roster.statusOf(r), restarts: r.restarts, epochs: r.epochs.get(node) ?? 0, ...(this.metricsByNode.has(node) ? { metrics: this.metricsByNode.get(node)! } : {}) };
      }
    }
    const driverMetrics = this.pump?.metrics.report() ?? {};
    for (const node of this.placement.driverNodes) nodes[node] = { runner: "command", host: "driver", pid: process.pid, status: this._state === "closed" ? "closed" : "ready", restarts: 0, epochs: this.roster.driverEpochsOf(node), ...(driverMetrics[node] ? { metrics: { ...driverMetrics[node], receivedAt: now } } : {}) };
    return { state: this._state, hosts, nodes, epochsCompleted: this.ledger.completed };
  }

  /** Kills one runner process (for tests and tools); the runner notices as it would a crash. */
  killRunner(runnerId: string, signal: NodeJS.Signals = "SIGKILL"): boolean {
    return this.boot.processes?.kill(runnerId, signal) ?? false;
  }

  stats(): ZmqRunnerStats {
    const runners: ZmqRunnerStats["runners"] = {};
    for (const r of this.roster.all()) {
      const status = Roster.statusOf(r);
      runners[r.id] = { pid: this.pidOf(r.id), status: status === "restarting" ? "closed" : status, nodes: r.plan.nodes };
    }
    return { drops: this.command?.codec.drops.stats() ?? {}, runners, epochsCompleted: this.ledger.completed, ...(this.boot.zap ? { auth: this.boot.zap.stats() } : {}) };
  }

  /** The run directory holding ipc sockets and the runner config (removed by deinit). */
  get runDirectory(): string | undefined {
    return this.boot.runDir?.path;
  }

  async init(): Promise<void> {
    this.expect(["created"], "init");
    this._state = "initializing";
    try {
      await this.startRunners();
      this.instances = await instantiate(this.tube, (child) => new LocalRunner(child), new Set(this.placement.driverNodes));
      this.pump = new TaskPump(this.scheduler, this.instances, {
        completed: (task, emitted) => this.emitEvents(task.node.id, emitted),
        failed: (task, err) => this.recordError(task.key, err),
        settled: () => this.finishEpochs(),
        metric: (m) => {
          if (this.listenerCount("metric") > 0) this.emit("metric", m);
        },
      });
      this._state = "ready";
    } catch (err) {
      this._state = "failed";
      this.end(err as Error);
      await this.teardown();
      throw err;
    }
  }

  private async startRunners(): Promise<void> {
    const command = await this.boot.open();
    this.timers.push(
      setInterval(() => {
        command.broadcast(makeMessage("heartbeat", COMMAND_ID, null));
        for (const h of this.hosts.hosts.values()) command.sendTo(h.identity, makeMessage("heartbeat", COMMAND_ID, null));
        this.liveness.check();
        this.hostHeartbeats.check();
      }, this.options.heartbeatMs),
    );
    await this.boot.bringUp();
  }

  private onControl(connection: string, msg: InboxMessage): void {
    switch (msg.type) {
      case "host_hello":
      case "host_status":
      case "runner_exit":
        this.onHost(connection, msg);
        return;
      case "heartbeat":
        // A runner counts as up only once its heartbeat thread is heard (Bootstrap.connected).
        if (this.liveness.heartbeat(connection, msg)) this.conditions.changed();
        return;
      case "status_request":
        // Operators ask over CURVE (a listening run). Elsewhere, a peer that asks and never reads would fill the inbox's send queue.
        if (this.options.listen === undefined) this.command?.codec.drops.record("schema", "a status_request on a run that does not listen for operators");
        else this.command!.sendTo(connection, makeMessage("status_report", COMMAND_ID, this.status()));
        return;
      default:
        break;
    }
    const from = this.runnerOn(connection, msg);
    if (from === undefined) return;
    this.liveness.alsoHeard(from);
    switch (msg.type) {
      case "identify": {
        const { token: _token, ...identity } = msg.value;
        const previous = this.roster.identified(from, identity);
        if (previous && previous.outbox !== identity.outbox) this.command!.forget(from);
        const r = this.roster.get(from)!;
        this.command!.listenTo(from, identity.outbox, this.listenerCount("event") > 0 || r.feedsDriver ? "values" : r.sink ? "done" : "probe", identity.curve_key);
        if (r.state.kind === "restarting") this.rejoin(from);
        break;
      }
      case "status":
        if (msg.value.node_id !== undefined && msg.value.enabled !== undefined && this.placement.runnerOf.get(msg.value.node_id) === from) this.enableAnswers.set(msg.value.node_id, msg.value.enabled);
        if (this.roster.reported(from, msg.value.status)) {
          this.log.info({ runner: from }, "restarted runner is ready");
          this.afterFinalize();
        }
        break;
      case "error":
        this.onRemoteError(msg);
        break;
      case "metrics":
        if (this.listenerCount("metric") > 0) for (const m of msg.value.metrics) this.emit("metric", { nodeId: m.node_id, name: m.name, value: m.value, step: m.step });
        return;
      case "node_metrics":
        // Only for the nodes this runner hosts; nothing waits on these figures.
        for (const [node, m] of Object.entries(msg.value.nodes)) if (this.placement.runnerOf.get(node) === from) this.metricsByNode.set(node, { ...m, receivedAt: Date.now() });
        return;
      default:
        return;
    }
    this.conditions.changed();
  }

  /**
   * The runner a message on `connection` speaks for, or undefined (dropped,
   * counted). A connection speaks for the runner it identified as, and only
   * for it; an identify binds only with the run's token. A restarted runner
   * identifies on its new connection, which replaces the old one.
   */
  private runnerOn(connection: string, msg: InboxMessage): string | undefined {
    const bound = this.roster.onConnection(connection)?.id;
    if (bound !== undefined) {
      if (msg.node_id === bound) return bound;
      this.command?.codec.drops.record("schema", `a ${msg.type} message claiming "${msg.node_id}" on the connection of runner "${bound}"`);
      return undefined;
    }
    if (msg.type !== "identify" || !this.placement.runners.has(msg.node_id) || msg.value.token !== this.runToken) {
      this.command?.codec.drops.record("schema", `a ${msg.type} message claiming "${msg.node_id}" from a connection that did not identify with the run's token`);
      return undefined;
    }
    this.roster.bind(msg.node_id, connection);
    return msg.node_id;
  }

  private onHost(from: string, msg: MessageOf<"host_hello" | "host_status" | "runner_exit">): void {
    if (msg.type === "host_hello") {
      // Host agents exist only where the run listens for them, and then every connection passed
      // CURVE with a trusted key (ZAP). Elsewhere a hello is a stranger's.
      if (this.options.listen === undefined || msg.value.name === "driver" || this.roster.onConnection(from) !== undefined) {
        this.command?.codec.drops.record("schema", `a host_hello naming "${msg.value.name}" on a run that does not take that host`);
        return;
      }
      const host = this.hosts.hello(from, msg.value, Date.now());
      this.hostHeartbeats.seen(host.name);
      this.command!.sendTo(from, makeMessage("heartbeat", COMMAND_ID, null));
      this.log.info({ host: host.name, labels: host.labels }, "host agent joined");
      this.conditions.changed();
      return;
    }
    const host = this.hosts.byIdentity(from);
    if (!host) {
      this.command?.codec.drops.record("schema", `a ${msg.type} message from a host that did not say hello ("${from}")`);
      return;
    }
    host.lastSeen = Date.now();
    this.hostHeartbeats.seen(host.name);
    if (msg.type === "host_status") {
      host.resources = msg.value.resources;
      host.runners = msg.value.runners;
      return;
    }
    const v = msg.value;
    // A host speaks only for the runners placed on it.
    const record = this.roster.get(v.runner_id);
    if (v.run_id !== this.boot.runId || record === undefined || record.host !== host.name) {
      this.command?.codec.drops.record("schema", `a runner_exit from host "${host.name}" for runner "${v.runner_id}" it does not run`);
      return;
    }
    record.restarts = v.restarts;
    this.runnerDown(v.runner_id, `on host "${host.name}" (pid ${v.pid}) ${describeExit({ code: v.code, signal: v.signal as NodeJS.Signals | null })}`, v.restarting);
  }

  /** A failure outside any epoch (a node's init): an epoch's errors come inside its completions. */
  private onRemoteError(msg: MessageOf<"error">): void {
    if (msg.value.epoch !== undefined) {
      this.command?.codec.drops.record("schema", `an error message for epoch ${JSON.stringify(msg.value.epoch)} of "${msg.value.node_id}": an epoch's errors travel in its completions`);
      return;
    }
    const err = nodeErrorFromWire(msg.value);
    // A node being enabled at run time that could not be created: enableNode rejects with it.
    if (this.enablePending.has(msg.value.node_id)) this.enableFailures.set(msg.value.node_id, err);
    else this.initError ??= err;
  }

  private recordError(key: string, err: NodeError): void {
    this.ledger.fail(rootOfKey(key), err);
  }

  private onEvent(msg: MessageOf<"event">): void {
    const { events, done } = msg.value;
    if (this.listenerCount("event") > 0) for (const ev of events) this.emit("event", ev);
    const groups = groupEvents(this.tube, events);
    for (const entry of done) {
      const [nodeId, key] = entry;
      const runner = this.placement.runnerOf.get(nodeId);
      // A completion passed on by another runner comes without its events: when we read that
      // node's runner for its values, its own message (with them) is the one to take.
      if (runner !== msg.node_id && runner !== undefined && this.command!.readsValuesOf(runner)) continue;
      if (!this.scheduler.complete(nodeId, key, groups.get(completionKey(nodeId, key)) ?? [])) continue;
      this.roster.countEpoch(this.placement.runnerOf.get(nodeId), nodeId);
      if (entry.length === 3) this.recordError(key, nodeErrorFromWire(entry[2]));
    }
    this.pump?.pump();
  }

  private emitEvents(nodeId: string, emitted: Emitted[]): void {
    if (this.listenerCount("event") === 0) return;
    const timestamp = Date.now();
    for (const e of emitted) {
      const event: TubeEvent = { id: 0, timestamp, node_id: nodeId, signal: e.signal, epoch: Number(e.key), value: e.value };
      this.emit("event", event);
    }
  }

  async process(input?: Record<string, unknown>): Promise<unknown> {
    this.expect(["ready"], "process");
    if (this.fatal) throw this.fatal;
    const processInput = resolveProcessInput(this.tube, input);
    if (this.roster.restarting().length > 0) {
      await this.conditions.until("process", () => this.roster.restarting().length === 0, Date.now() + this.options.initTimeoutMs, () => `runners still restarting: ${this.roster.restarting().join(", ")}`);
    }
    const epoch = this.nextEpoch++;
    const done = new Promise<unknown>((resolve, reject) => this.ledger.open(epoch, { resolve, reject }));
    this.command!.broadcast(makeMessage("process", COMMAND_ID, { epoch, input: processInput }));
    this.scheduler.openEpoch(epoch, processInput);
    this.pump!.pump();
    return done;
  }

  enabledNodes(): string[] {
    return [...this.tube.nodes.keys()].filter((id) => this.scheduler.isEnabled(id));
  }

  disableNode(id: string): Promise<void> {
    return this.queueEnable(id, false, "disableNode");
  }

  enableNode(id: string): Promise<void> {
    return this.queueEnable(id, true, "enableNode");
  }

  private queueEnable(id: string, enabled: boolean, call: string): Promise<void> {
    try {
      this.expectNode(id, call);
    } catch (err) {
      return Promise.reject(err);
    }
    const done = this.enabling.then(() => this.setNodeEnabled(id, enabled, call));
    this.enabling = done.catch(() => undefined);
    return done;
  }

  /**
   * The driver's own nodes (the return node) switch here. A node in a runner
   * process switches there, with an `enable` message: the call resolves once
   * that runner answers, so every epoch opened afterwards sees the change
   * whichever socket its events come in on.
   */
  private async setNodeEnabled(id: string, enabled: boolean, call: string): Promise<void> {
    if (this.fatal) throw this.fatal;
    const runner = this.placement.runnerOf.get(id)!;
    if (runner === DRIVER) {
      if (enabled && !this.instances.has(id)) {
        for (const [k, v] of await instantiate(this.tube, (child) => new LocalRunner(child), new Set([id]), this.instances)) this.instances.set(k, v);
      }
    } else {
      this.enableAnswers.delete(id);
      this.enableFailures.delete(id);
      this.enabledNow.set(id, enabled);
      this.enablePending.add(id);
      this.command!.broadcast(makeMessage("enable", COMMAND_ID, { node: id, enabled }));
      try {
        // A runner being restarted gets the change with its init (rejoin) and runs no epoch before.
        await this.conditions.until(call, () => this.enableAnswers.has(id) || this.roster.isRestarting(runner) || this._state === "closed", Date.now() + this.options.initTimeoutMs, () => `the runner process of node ${id} did not confirm the change`);
      } finally {
        this.enablePending.delete(id);
      }
      if (this._state === "closed") throw new TubularError("TUBULAR_ERR_RUNNER_STATE", `${call}(): the runner was deinitialized`);
      const failure = this.enableFailures.get(id);
      this.enableFailures.delete(id);
      if (this.enableAnswers.get(id) === false && enabled) {
        this.enabledNow.delete(id);
        throw failure ?? new NodeError("TUBULAR_ERR_NODE_INIT", { nodeId: id, errorType: "Error", errorMessage: "its runner could not create it" });
      }
    }
    this.scheduler.setEnabled(id, enabled);
  }

  async deinit(): Promise<void> {
    if (this._state === "closed") return;
    let failure: Error | undefined;
    if (this.freeRun) await this.stop().catch((err: Error) => (failure = err));
    this._state = "closed";
    this.end(this.fatal ?? failure);
    this.rejectWaiting(new TubularError("TUBULAR_ERR_RUNNER_STATE", "the runner was deinitialized"));
    // An enableNode / disableNode waiting for its runner's answer ends too.
    this.conditions.changed();
    await this.teardown();
  }

  private async teardown(): Promise<void> {
    this.closing = true;
    await this.boot.stopRunners();
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await release(this.instances);
    await this.boot.release();
  }

  protected override expect(states: RunnerState[], call: string): void {
    if (this.fatal && this._state === "failed") throw this.fatal;
    super.expect(states, call);
  }

  protected override onFreeRunStart(n: number | undefined): void {
    this.command!.broadcast(makeMessage("start", COMMAND_ID, { n: n ?? null }));
  }

  /**
   * Opens epochs up to the in-flight window. Epochs go out in several smaller
   * process messages rather than one: each stage of the graph then works on
   * one batch while the next stage works on the previous one (measured in
   * bench/chain3-freerun.bench.ts: one batch per window left the runners idle
   * half the time).
   */
  protected fill(): void {
    const run = this.freeRun;
    if (!run || this.fatal || this.roster.restarting().length > 0) return;
    const batchSize = Math.max(1, Math.ceil(this.options.maxInFlight / 4));
    let opened = 0;
    while (run.remaining > 0 && this.ledger.inFlight < this.options.maxInFlight) {
      const batch: Array<{ epoch: number; input: Record<string, unknown> | null }> = [];
      while (run.remaining > 0 && this.ledger.inFlight < this.options.maxInFlight && batch.length < batchSize) {
        run.remaining--;
        this.ledger.open(this.nextEpoch);
        batch.push({ epoch: this.nextEpoch++, input: run.input });
      }
      this.command!.broadcast(makeMessage("process", COMMAND_ID, batch.length === 1 ? batch[0]! : { epochs: batch }));
      for (const { epoch } of batch) this.scheduler.openEpoch(epoch, run.input);
      opened += batch.length;
    }
    if (opened > 0) this.pump!.pump();
    else if (run.remaining === 0 && this.ledger.inFlight === 0) this.finishFreeRun();
  }

  protected override onFreeRunEnd(): void {
    this.command?.broadcast(makeMessage("stop", COMMAND_ID, null));
  }

  private finishEpochs(): void {
    const completed = this.scheduler.takeCompleted();
    if (completed.length === 0) return;
    for (const root of completed.sort((a, b) => a - b)) {
      const ret = this.tube.returnNode;
      const raw = ret === undefined ? undefined : this.scheduler.valueOf(root, ret, "value");
      this.scheduler.closeEpoch(root);
      this.settle(root, raw === undefined ? null : raw);
    }
    this.afterFinalize();
  }

  private afterFinalize(): void {
    if (!this.freeRun || this.roster.restarting().length > 0) return;
    if (this.freeRun.remaining > 0) this.fill();
    else if (this.ledger.inFlight === 0) this.finishFreeRun();
  }

  private onExit(info: ExitInfo): void {
    if (this.closing) return;
    const record = this.roster.get(info.runnerId);
    if (record) record.restarts = info.restarts;
    this.runnerDown(info.runnerId, `(pid ${info.pid}) ${describeExit(info)}`, info.restarting);
  }

  private hostLost(name: string, how: string): void {
    for (const r of this.roster.all()) if (r.host === name) this.runnerDown(r.id, `is unreachable: ${how}`, false);
  }

  /**
   * A runner died. Every epoch in flight fails with an error naming its nodes
   * and how it died; nothing hangs. Without a restart, the run is over (later
   * calls fail with the same error); with one, epochs wait for the
   * replacement and the run goes on.
   */
  private runnerDown(runnerId: string, how: string, restarting: boolean): void {
    if (this.closing || this.fatal || this._state === "created") return;
    const nodes = this.placement.runners.get(runnerId)?.nodes ?? [runnerId];
    const what = `the runner process of node${nodes.length > 1 ? "s" : ""} ${nodes.join(", ")} ${how}${restarting ? "; it is being restarted" : ""}`;
    const failure = (epoch?: number) => new RunnerDiedError({ nodeIds: nodes, ...(epoch !== undefined ? { epoch } : {}), how: what });
    this.log.error({ runner: runnerId, nodes, restarting }, what);
    this.liveness.forget(runnerId);
    this.command?.forget(runnerId);
    const restarts = restarting && this._state !== "initializing";
    this.roster.down(runnerId, what, restarts);
    if (!restarts) {
      this.failRun(failure());
      return;
    }
    // The epochs in flight cannot finish: fail them here and have every runner forget them.
    for (const root of this.ledger.openEpochs()) {
      const err = failure(root);
      const given = this.ledger.giveUp(root);
      this.scheduler.closeEpoch(root);
      this.command!.broadcast(makeMessage("epoch_ended", COMMAND_ID, { epoch: root }));
      if (this.listenerCount("error") > 0) this.emit("error", err);
      given?.waiter?.reject(err);
    }
    this.conditions.changed();
  }

  /** The run cannot go on: every waiting call and later call fails with `err`. */
  private failRun(err: Error): void {
    if (this.closing || this.fatal || this._state === "created") return;
    this.fatal = err;
    this.rejectWaiting(err);
    if (this.freeRun) {
      this.freeRun.error ??= err;
      this.freeRun.remaining = 0;
      this.finishFreeRun();
    }
    if (this.listenerCount("error") > 0) this.emit("error", err);
    if (this._state === "ready" || this._state === "running") this._state = "failed";
    this.end(err);
    this.conditions.changed();
  }

  /** A restarted runner identified: it rejoins at the next epoch, or is given up. */
  private rejoin(runnerId: string): void {
    this.boot.rejoin(runnerId, this.nextEpoch, this.enabledNow).catch((err: unknown) => this.runnerDown(runnerId, (err as Error).message, false));
  }
}

/** The root epoch of an epoch key ("3", "3/m.1"). */
function rootOfKey(key: string): number {
  const slash = key.indexOf("/");
  return Number(slash < 0 ? key : key.slice(0, slash));
}

export { externalAddress } from "./bootstrap.ts";
