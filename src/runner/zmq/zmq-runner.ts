/**
 * ZmqRunner: runs a tube across node runner processes that talk ZeroMQ.
 * The driver holds the command node (its sockets), the scheduler that tracks
 * every epoch to its end, and the nodes that need no process (the return
 * node, disabled nodes). Events flow between runners directly; the command
 * node hears all of them to learn return values and the end of each epoch.
 */
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { availableParallelism, networkInterfaces } from "node:os";
import path from "node:path";
import { NodeError, RunnerDiedError, TubularError } from "../../errors.ts";
import { epochToKey, parentKey } from "../../graph/epoch.ts";
import { resolveProcessInput } from "../../graph/process-input.ts";
import { Scheduler, type Emitted } from "../../graph/scheduler.ts";
import type { Tube } from "../../graph/tube.ts";
import { rootLogger, type Logger } from "../../log.ts";
import { parseZmqRunnerOptions, type ResolvedZmqRunnerOptions, type ZmqRunnerOptions } from "./options.ts";
import type { IdentifyValue } from "../../protocol/command-to-runner.ts";
import type { NodeStatus } from "../../protocol/common.ts";
import { makeMessage, type Message, type MessageOf } from "../../protocol/message.ts";
import { ProtocolError } from "../../protocol/codec.ts";
import { RunDir } from "../../transport/address.ts";
import type { CurveKeyPair } from "../../transport/curve.ts";
import { ZapAuthenticator } from "../../transport/zap.ts";
import type { Resources } from "../../protocol/command-to-host.ts";
import { HostRegistry } from "./host-registry.ts";
import { Conditions } from "./conditions.ts";
import { HeartbeatMonitor } from "../../transport/heartbeat.ts";
import { instantiate, release, type Instances } from "../execute.ts";
import { LocalRunner } from "../local.ts";
import type { RunnerEvents, RunnerState, TubeEvent } from "../runner.ts";
import { EpochRunner } from "../epoch-runner.ts";
import { TaskPump } from "../task-pump.ts";
import type { NodeMetricsReport } from "../node-metrics.ts";
import { CommandNode, COMMAND_ID } from "./command-node.ts";
import type { RunnerProcessConfig } from "./config.ts";
import { placeNodes, upstreamNodes, type Placement } from "./placement.ts";
import { completionKey, groupEvents } from "./event-groups.ts";
import { RunnerSupervisor, describeExit, type ExitInfo } from "./runner-supervisor.ts";
import { runnerEntry } from "./runner-entry.ts";
import { defaultProcessesPerHost } from "./packing.ts";

export type { ZmqRunnerOptions } from "./options.ts";

export interface NodeReport {
  runner: string;
  host: string;
  pid: number | null;
  status: NodeStatus | "restarting" | "unknown";
  restarts: number;
  epochs: number;
  /** Measured where the node runs (runs, errors, events per signal, process time p50/p99); absent before its first report. */
  metrics?: NodeMetricsReport & { /** When this process had the report (Date.now()), for rates over the runner's own intervals. */ receivedAt: number };
}

export interface RunStatus {
  state: RunnerState;
  hosts: Record<string, { labels: string[]; resources: Resources; pid: number; alive: boolean; runners: number }>;
  nodes: Record<string, NodeReport>;
  epochsCompleted: number;
}

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
  private command: CommandNode | undefined;
  private runDir: RunDir | undefined;
  private processes: RunnerSupervisor | undefined;
  private readonly identities = new Map<string, IdentifyValue>();
  private readonly statuses = new Map<string, NodeStatus>();
  private readonly subscribed = new Set<string>();
  /** Runners whose values the driver's own nodes (the return node) read. */
  private readonly feedsDriver = new Set<string>();
  /**
   * Runners no other runner reads from. Runners pass the completions they
   * hear on, so the last runners of the graph carry everyone's: the command
   * node reads those (and the values it needs), and wakes up once per batch
   * rather than once per runner (bench/chain3-process-latency.bench.ts).
   */
  private readonly sinks = new Set<string>();
  private readonly heartbeats: HeartbeatMonitor;
  private timers: NodeJS.Timeout[] = [];
  private readonly conditions = new Conditions(() => this.initError ?? this.fatal);
  private scheduler: Scheduler;
  private instances: Instances = new Map();
  private pump: TaskPump | undefined;
  private completedCount = 0;
  /** Every epoch up to here has ended; `endedSent` is the last one announced. */
  private endedThrough = -1;
  private endedSent = -1;
  private readonly errors = new Map<number, NodeError>();
  /** Failed node completions whose error message has not arrived yet, per root epoch. */
  private readonly awaitingErrors = new Map<number, Set<string>>();
  private readonly errorsSeen = new Set<string>();
  private readonly deferred = new Set<number>();
  /** Root epochs opened and not yet finished. */
  private readonly open = new Set<number>();
  private fatal: Error | undefined;
  private readonly hosts = new HostRegistry();
  /** Runner -> the host agent it runs on ("driver" for this machine). */
  private readonly hostOf = new Map<string, string>();
  /** Runners being restarted: epochs wait for them. */
  private readonly restarting = new Set<string>();
  private readonly restartCount = new Map<string, number>();
  private readonly epochsByNode = new Map<string, number>();
  /** The last per-node figures each runner reported (its `metrics` message). */
  private readonly metricsByNode = new Map<string, NodeMetricsReport & { receivedAt: number }>();
  private zapRelease: (() => Promise<void>) | undefined;
  private zap: ZapAuthenticator | undefined;
  private endpoints: { inbox: string; outbox: string } | undefined;
  private runId = "";
  /** The run's secret: only an identify carrying it binds a runner to a connection. */
  private readonly runToken = randomBytes(16).toString("hex");
  /** Inbox connection -> the runner it identified as, and back: a runner's messages count only from its own connection. */
  private readonly runnerOnConnection = new Map<string, string>();
  private readonly connectionOfRunner = new Map<string, string>();
  private baseConfig: RunnerProcessConfig | undefined;
  private readonly hostHeartbeats: HeartbeatMonitor;
  private initError: Error | undefined;
  private closing = false;

  constructor(tube: Tube, options: ZmqRunnerOptions = {}) {
    super(tube);
    this.options = parseZmqRunnerOptions(options);
    // A child logger with its own level: the process's root level is not this runner's to change.
    this.log = rootLogger().child({ component: "zmq-runner", tube: tube.id }, this.options.logLevel ? { level: this.options.logLevel } : {});
    this.placement = placeNodes(tube, { mode: this.options.processes, processesPerHost: this.options.processesPerHost ?? defaultProcessesPerHost(availableParallelism()) });
    for (const id of this.placement.driverNodes) for (const up of upstreamNodes(tube, id)) this.feedsDriver.add(this.placement.runnerOf.get(up)!);
    for (const id of this.placement.runners.keys()) if (![...this.placement.runners.values()].some((r) => r.upstream.includes(id))) this.sinks.add(id);
    this.scheduler = new Scheduler(tube, { local: this.placement.driverNodes, firstEpoch: 0 });
    this.heartbeats = new HeartbeatMonitor({
      timeoutMs: this.options.heartbeatMs * 4,
      onDead: (runnerId, silentMs) => {
        // A runner on a host agent is restarted by it (runner_exit tells); one that just went silent is lost.
        if (!this.restarting.has(runnerId)) this.runnerDown(runnerId, `stopped answering heartbeats (silent for ${silentMs} ms)`, false);
      },
    });
    this.hostHeartbeats = new HeartbeatMonitor({
      timeoutMs: Math.max(2000, this.options.heartbeatMs * 8),
      onDead: (name, silentMs) => this.hostLost(name, `host agent "${name}" stopped answering (silent for ${silentMs} ms)`),
    });
    if (options.listen && !options.keys) throw new TubularError("TUBULAR_ERR_KEY", "listening for host agents needs the command node's keys (--keys DIR)");
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
    const local = this.processes?.pid(runnerId);
    if (local !== undefined) return local;
    return this.identities.get(runnerId)?.pid;
  }

  /** Hosts, their resources, and each node's runner, host, pid, status, restarts and epochs processed. */
  status(): RunStatus {
    const now = Date.now();
    const hosts: RunStatus["hosts"] = {};
    for (const h of this.hosts.hosts.values()) {
      hosts[h.name] = { labels: h.labels, resources: h.resources, pid: h.pid, alive: now - h.lastSeen < this.hostHeartbeats.timeoutMs, runners: h.assigned };
    }
    const nodes: RunStatus["nodes"] = {};
    for (const [runner, plan] of this.placement.runners) {
      for (const node of plan.nodes) {
        nodes[node] = {
          runner,
          host: this.hostOf.get(runner) ?? "driver",
          pid: this.pidOf(runner) ?? null,
          status: this.restarting.has(runner) ? "restarting" : (this.statuses.get(runner) ?? "unknown"),
          restarts: this.restartCount.get(runner) ?? 0,
          epochs: this.epochsByNode.get(node) ?? 0,
          ...(this.metricsByNode.has(node) ? { metrics: this.metricsByNode.get(node)! } : {}),
        };
      }
    }
    const driverMetrics = this.pump?.metrics.report() ?? {};
    for (const node of this.placement.driverNodes) nodes[node] = { runner: "command", host: "driver", pid: process.pid, status: this._state === "closed" ? "closed" : "ready", restarts: 0, epochs: this.epochsByNode.get(node) ?? 0, ...(driverMetrics[node] ? { metrics: { ...driverMetrics[node], receivedAt: now } } : {}) };
    return { state: this._state, hosts, nodes, epochsCompleted: this.completedCount };
  }

  /** Kills one runner process (for tests and tools); the runner notices as it would a crash. */
  killRunner(runnerId: string, signal: NodeJS.Signals = "SIGKILL"): boolean {
    return this.processes?.kill(runnerId, signal) ?? false;
  }

  stats(): ZmqRunnerStats {
    const runners: ZmqRunnerStats["runners"] = {};
    for (const [id, plan] of this.placement.runners) runners[id] = { pid: this.pidOf(id), status: this.statuses.get(id) ?? "unknown", nodes: plan.nodes };
    return { drops: this.command?.codec.drops.stats() ?? {}, runners, epochsCompleted: this.completedCount, ...(this.zap ? { auth: this.zap.stats() } : {}) };
  }

  /** The run directory holding ipc sockets and the runner config (removed by deinit). */
  get runDirectory(): string | undefined {
    return this.runDir?.path;
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
      });
      this._state = "ready";
    } catch (err) {
      this._state = "failed";
      await this.teardown();
      throw err;
    }
  }

  private async startRunners(): Promise<void> {
    const opts = this.options;
    this.runDir = await RunDir.create({ prefix: "tubular-" });
    this.runId = path.basename(this.runDir.path);
    const command = new CommandNode(
      {
        control: (from, msg) => this.onControl(from, msg),
        event: (msg) => this.onEvent(msg),
        subscribed: (runnerId) => {
          this.subscribed.add(runnerId);
          this.conditions.changed();
        },
        corrupt: (runnerId, err) => {
          this.log.error({ runner: runnerId, err }, "undecodable message from a runner's own outbox");
          const nodes = this.placement.runners.get(runnerId)?.nodes ?? [runnerId];
          this.failRun(new ProtocolError(err.kind, `the runner of ${nodes.join(", ")} sent a message that cannot be decoded (${err.message}); the run cannot count on its events`, { runner: runnerId, nodes }));
        },
      },
      this.log,
      opts.maxMessageBytes,
    );
    this.command = command;
    const keys = opts.keys;
    if (keys) {
      // The driver's own runners share its key pair; host agents must be trusted.
      const { zap, release } = await ZapAuthenticator.acquire([keys.publicKey, ...(opts.trust ?? [])], this.log);
      this.zap = zap;
      this.zapRelease = release;
    }
    const tcp = opts.transport === "tcp" || opts.listen !== undefined;
    const bindHost = opts.listen ? hostOf(opts.listen) : opts.host;
    const advertise = opts.advertise ?? (opts.listen ? (bindHost === "0.0.0.0" || bindHost === "*" ? externalAddress() : bindHost) : opts.host);
    const bound = !tcp
      ? await command.bind(this.runDir.ipc("command-inbox"), this.runDir.ipc("command-outbox"))
      : await command.bind(opts.listen ?? `tcp://${bindHost}:0`, `tcp://${bindHost}:0`, keys);
    this.endpoints = tcp ? { inbox: readvertise(bound.inbox, advertise), outbox: readvertise(bound.outbox, advertise) } : bound;
    const runners: RunnerProcessConfig["runners"] = {};
    for (const [id, plan] of this.placement.runners) runners[id] = { id, nodes: [...plan.nodes], upstream: [...plan.upstream] };
    this.baseConfig = {
      runId: this.runId,
      runToken: this.runToken,
      spec: this.tube.spec as Record<string, unknown>,
      file: this.tube.file,
      baseDir: this.tube.baseDir,
      input: { ...this.tube.input },
      runners,
      commandInbox: this.endpoints.inbox,
      commandOutbox: this.endpoints.outbox,
      outbox: tcp ? { transport: "tcp", bind: bindHost, advertise } : { transport: "ipc", dir: this.runDir.path },
      logLevel: opts.logLevel ?? (this.log.level as string),
      heartbeatMs: opts.heartbeatMs,
      commandTimeoutMs: opts.commandTimeoutMs,
      maxMessageBytes: command.codec.maxMessageBytes,
    };
    const trusted = keys ? [keys.publicKey, ...(opts.trust ?? [])] : [];
    const localConfig: RunnerProcessConfig = keys ? { ...this.baseConfig, curve: { publicKey: keys.publicKey, secretKey: keys.secretKey, commandKey: keys.publicKey, trusted } } : this.baseConfig;
    const configFile = path.join(this.runDir.path, "runners.json");
    await writeFile(configFile, JSON.stringify(localConfig), { mode: 0o600 });
    this.processes = new RunnerSupervisor(await runnerEntry(), (info) => this.onExit(info), opts.output);
    const remote = [...this.placement.runners.values()].filter((p) => HostRegistry.isRemote(p));
    for (const plan of this.placement.runners.values()) {
      if (HostRegistry.isRemote(plan)) continue;
      this.hostOf.set(plan.id, "driver");
      this.processes.spawn(plan.id, configFile, { restart: plan.restart, maxRestarts: plan.maxRestarts });
    }
    this.timers.push(
      setInterval(() => {
        command.broadcast(makeMessage("heartbeat", COMMAND_ID, null));
        // Epoch ends go out with the heartbeat, as one cumulative message: runners
        // forget an epoch as soon as their own nodes are done with it, so this is
        // news, not a condition, and one message per epoch would double the
        // command's sends (measured in bench/chain3-process-latency.bench.ts).
        if (this.endedThrough > this.endedSent) {
          this.endedSent = this.endedThrough;
          command.broadcast(makeMessage("epoch_ended", COMMAND_ID, { epoch: this.endedThrough, cumulative: true }));
        }
        for (const h of this.hosts.hosts.values()) command.sendTo(h.identity, makeMessage("heartbeat", COMMAND_ID, null));
        this.heartbeats.check();
        this.hostHeartbeats.check();
      }, opts.heartbeatMs),
    );

    const deadline = Date.now() + opts.initTimeoutMs;
    if (remote.length > 0) {
      // The hosts the graph needs must have joined; then each starts the runners placed on it.
      await this.conditions.until(
        "init",
        () => remote.every((p) => this.hosts.choose(p) !== undefined),
        deadline,
        () => `waiting for host agents: ${remote.filter((p) => !this.hosts.choose(p)).map((p) => `${HostRegistry.describe(p)} (for ${p.nodes.join(", ")})`).join("; ")}`,
      );
      for (const plan of remote) {
        const host = this.hosts.choose(plan)!;
        host.assigned++;
        this.hostOf.set(plan.id, host.name);
        command.sendTo(host.identity, makeMessage("spawn", COMMAND_ID, { run_id: this.runId, runner_id: plan.id, config: { ...this.baseConfig, curve_trusted: trusted, command_key: keys?.publicKey ?? null }, restart: plan.restart, max_restarts: plan.maxRestarts }));
      }
    }
    const ids = [...this.placement.runners.keys()];
    // 1. Every runner is up, hears the command outbox, and the command hears its outbox.
    await this.conditions.until(
      "init",
      () => ids.every((id) => this.connected(id)),
      deadline,
      () => `runner processes did not come up: ${ids.filter((id) => !this.connected(id)).map((id) => `${id} (on ${this.hostOf.get(id)})`).join(", ")}`,
      command.probes.waitFor(ids),
    );
    // 2. Tell everyone where everyone is, then instantiate: each runner reports ready once its upstreams have its subscription.
    this.announce();
    command.broadcast(makeMessage("init", COMMAND_ID, { first_epoch: 0 }));
    await this.conditions.until(
      "init",
      () => ids.every((id) => this.statuses.get(id) === "ready"),
      deadline,
      () => `nodes not ready: ${ids.filter((id) => this.statuses.get(id) !== "ready").map((id) => `${this.placement.runners.get(id)!.nodes.join(", ")} (${this.statuses.get(id) ?? "not started"})`).join("; ")}`,
    );
  }

  /** A runner identified, hears the command outbox, and the command hears its outbox. */
  private connected(runnerId: string): boolean {
    return this.identities.has(runnerId) && this.subscribed.has(runnerId) && this.command!.probes.has(runnerId);
  }

  private announce(): void {
    this.command!.broadcast(makeMessage("announce", COMMAND_ID, { inbox: this.endpoints!.inbox, nodes: Object.fromEntries(this.identities) }));
  }

  private onControl(connection: string, msg: Message): void {
    switch (msg.type) {
      case "host_hello":
      case "host_status":
      case "runner_exit":
        this.onHost(connection, msg);
        return;
      case "status_request":
        // Operators ask over CURVE (a listening run). Elsewhere, a peer that asks and never reads would fill the inbox's send queue.
        if (this.options.listen === undefined) this.command?.codec.drops.record("schema", "a status_request on a run that does not listen for operators");
        else this.command!.sendTo(connection, makeMessage("status_report", COMMAND_ID, this.status() as unknown as Record<string, unknown>));
        return;
      default:
        break;
    }
    const from = this.runnerOn(connection, msg);
    if (from === undefined) return;
    this.heartbeats.seen(from);
    switch (msg.type) {
      case "identify": {
        const { token: _token, ...identity } = msg.value;
        const previous = this.identities.get(from);
        if (previous && previous.outbox !== identity.outbox) this.command!.forget(from);
        this.identities.set(from, identity);
        this.statuses.set(from, identity.status);
        this.command!.listenTo(from, identity.outbox, this.listenerCount("event") > 0 || this.feedsDriver.has(from) ? "values" : this.sinks.has(from) ? "done" : "probe", identity.curve_key);
        if (this.restarting.has(from)) void this.rejoin(from);
        break;
      }
      case "status":
        this.statuses.set(from, msg.value.status);
        if (msg.value.status === "ready" && this.restarting.delete(from)) {
          this.log.info({ runner: from }, "restarted runner is ready");
          this.afterFinalize();
        }
        break;
      case "error":
        this.onRemoteError(msg);
        break;
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
  private runnerOn(connection: string, msg: Message): string | undefined {
    const bound = this.runnerOnConnection.get(connection);
    if (bound !== undefined) {
      if (msg.node_id === bound) return bound;
      this.command?.codec.drops.record("schema", `a ${msg.type} message claiming "${msg.node_id}" on the connection of runner "${bound}"`);
      return undefined;
    }
    if (msg.type !== "identify" || !this.placement.runners.has(msg.node_id) || msg.value.token !== this.runToken) {
      this.command?.codec.drops.record("schema", `a ${msg.type} message claiming "${msg.node_id}" from a connection that did not identify with the run's token`);
      return undefined;
    }
    this.unbind(msg.node_id);
    this.runnerOnConnection.set(connection, msg.node_id);
    this.connectionOfRunner.set(msg.node_id, connection);
    return msg.node_id;
  }

  private unbind(runnerId: string): void {
    const connection = this.connectionOfRunner.get(runnerId);
    if (connection === undefined) return;
    this.connectionOfRunner.delete(runnerId);
    this.runnerOnConnection.delete(connection);
  }

  private onHost(from: string, msg: MessageOf<"host_hello" | "host_status" | "runner_exit">): void {
    if (msg.type === "host_hello") {
      // Host agents exist only where the run listens for them, and then every connection passed
      // CURVE with a trusted key (ZAP). Elsewhere a hello is a stranger's.
      if (this.options.listen === undefined || msg.value.name === "driver" || this.runnerOnConnection.has(from)) {
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
    if (v.run_id !== this.runId || this.hostOf.get(v.runner_id) !== host.name) {
      this.command?.codec.drops.record("schema", `a runner_exit from host "${host.name}" for runner "${v.runner_id}" it does not run`);
      return;
    }
    this.restartCount.set(v.runner_id, v.restarts);
    this.runnerDown(v.runner_id, `on host "${host.name}" (pid ${v.pid}) ${describeExit({ code: v.code, signal: v.signal as NodeJS.Signals | null })}`, v.restarting);
  }

  private onRemoteError(msg: MessageOf<"error">): void {
    const v = msg.value;
    const err = new NodeError(v.code === "TUBULAR_ERR_NODE_INIT" ? "TUBULAR_ERR_NODE_INIT" : "TUBULAR_ERR_NODE_FAILED", {
      nodeId: v.node_id,
      ...(v.epoch !== undefined ? { epoch: v.epoch } : {}),
      errorType: v.err_type,
      errorMessage: v.message,
      stack: v.traceback,
    });
    if (v.epoch === undefined) {
      this.initError ??= err;
      return;
    }
    const key = epochToKey(v.epoch);
    this.recordError(key, err);
    const mark = `${v.node_id}\u0000${key}`;
    const root = typeof v.epoch === "number" ? v.epoch : v.epoch[0];
    const waiting = this.awaitingErrors.get(root);
    if (waiting?.delete(mark)) {
      if (waiting.size === 0) this.awaitingErrors.delete(root);
    } else this.errorsSeen.add(mark);
    if (this.deferred.has(root) && !this.awaitingErrors.has(root)) {
      this.deferred.delete(root);
      this.finalize(root);
      this.afterFinalize();
    }
  }

  private recordError(key: string, err: NodeError): void {
    const root = Number(key.split("/")[0]);
    if (!this.errors.has(root)) this.errors.set(root, err);
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
      this.epochsByNode.set(nodeId, (this.epochsByNode.get(nodeId) ?? 0) + 1);
      if (entry.length === 3) {
        const mark = `${nodeId}\u0000${key}`;
        if (!this.errorsSeen.delete(mark)) {
          const root = Number(key.split("/")[0]);
          let set = this.awaitingErrors.get(root);
          if (!set) this.awaitingErrors.set(root, (set = new Set()));
          set.add(mark);
        }
      }
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
    if (this.restarting.size > 0) {
      await this.conditions.until("process", () => this.restarting.size === 0, Date.now() + this.options.initTimeoutMs, () => `runners still restarting: ${[...this.restarting].join(", ")}`);
    }
    const epoch = this.nextEpoch++;
    const done = new Promise<unknown>((resolve, reject) => this.waiting.set(epoch, { resolve, reject }));
    this.inFlight++;
    this.open.add(epoch);
    this.command!.broadcast(makeMessage("process", COMMAND_ID, { epoch, input: processInput }));
    this.scheduler.openEpoch(epoch, processInput);
    this.pump!.pump();
    return done;
  }

  async deinit(): Promise<void> {
    if (this._state === "closed") return;
    if (this.freeRun) await this.stop().catch(() => undefined);
    this._state = "closed";
    this.rejectWaiting(new TubularError("TUBULAR_ERR_RUNNER_STATE", "the runner was deinitialized"));
    await this.teardown();
  }

  private async teardown(): Promise<void> {
    this.closing = true;
    this.processes?.quiesce();
    this.command?.broadcast(makeMessage("deinit", COMMAND_ID, { stay: false }));
    // Host agents end what is left of this run's runners on their machines.
    for (const h of this.hosts.hosts.values()) this.command?.sendTo(h.identity, makeMessage("kill", COMMAND_ID, { run_id: this.runId, runner_id: null }));
    await this.processes?.stopAll(this.options.deinitTimeoutMs);
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await release(this.instances);
    await this.command?.close();
    await this.zapRelease?.();
    await this.runDir?.cleanup();
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
    if (!run || this.fatal || this.restarting.size > 0) return;
    const batchSize = Math.max(1, Math.ceil(this.options.maxInFlight / 4));
    let opened = 0;
    while (run.remaining > 0 && this.inFlight < this.options.maxInFlight) {
      const batch: Array<{ epoch: number; input: Record<string, unknown> | null }> = [];
      while (run.remaining > 0 && this.inFlight < this.options.maxInFlight && batch.length < batchSize) {
        run.remaining--;
        this.inFlight++;
        this.open.add(this.nextEpoch);
        batch.push({ epoch: this.nextEpoch++, input: run.input });
      }
      this.command!.broadcast(makeMessage("process", COMMAND_ID, batch.length === 1 ? batch[0]! : { epochs: batch }));
      for (const { epoch } of batch) this.scheduler.openEpoch(epoch, run.input);
      opened += batch.length;
    }
    if (opened > 0) this.pump!.pump();
    else if (run.remaining === 0 && this.inFlight === 0) this.finishFreeRun();
  }

  protected override onFreeRunEnd(): void {
    this.command?.broadcast(makeMessage("stop", COMMAND_ID, null));
  }

  private finishEpochs(): void {
    const completed = this.scheduler.takeCompleted();
    if (completed.length === 0) return;
    for (const root of completed.sort((a, b) => a - b)) {
      if (this.awaitingErrors.has(root)) {
        // Its error is on the way on the control channel: end the epoch when it arrives.
        this.deferred.add(root);
        continue;
      }
      this.finalize(root);
    }
    this.afterFinalize();
  }

  private finalize(root: number): void {
    const ret = this.tube.returnNode;
    const raw = ret === undefined ? undefined : this.scheduler.valueOf(root, ret, "value");
    this.scheduler.closeEpoch(root);
    this.open.delete(root);
    this.completedCount++;
    this.advanceEnded();
    const error = this.errors.get(root);
    this.errors.delete(root);
    this.settle(root, raw === undefined ? null : raw, error);
  }

  private advanceEnded(): void {
    while (this.endedThrough + 1 < this.nextEpoch && !this.open.has(this.endedThrough + 1)) this.endedThrough++;
  }

  private afterFinalize(): void {
    if (!this.freeRun || this.restarting.size > 0) return;
    if (this.freeRun.remaining > 0) this.fill();
    else if (this.inFlight === 0) this.finishFreeRun();
  }

  private onExit(info: ExitInfo): void {
    if (this.closing) return;
    this.restartCount.set(info.runnerId, info.restarts);
    this.runnerDown(info.runnerId, `(pid ${info.pid}) ${describeExit(info)}`, info.restarting);
  }

  private hostLost(name: string, how: string): void {
    for (const [runner, host] of this.hostOf) if (host === name) this.runnerDown(runner, `is unreachable: ${how}`, false);
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
    this.heartbeats.forget(runnerId);
    this.statuses.set(runnerId, "closed");
    const identity = this.identities.get(runnerId);
    if (identity) this.command?.forget(runnerId);
    this.identities.delete(runnerId);
    this.subscribed.delete(runnerId);
    this.unbind(runnerId);
    if (!restarting || this._state === "initializing") {
      this.failRun(failure());
      return;
    }
    this.restarting.add(runnerId);
    // The epochs in flight cannot finish: fail them here and have every runner forget them.
    for (const root of [...this.open].sort((a, b) => a - b)) {
      const err = failure(root);
      this.open.delete(root);
      this.scheduler.closeEpoch(root);
      this.inFlight--;
      this.errors.delete(root);
      this.awaitingErrors.delete(root);
      this.deferred.delete(root);
      this.command!.broadcast(makeMessage("epoch_ended", COMMAND_ID, { epoch: root }));
      if (this.listenerCount("error") > 0) this.emit("error", err);
      const waiter = this.waiting.get(root);
      this.waiting.delete(root);
      waiter?.reject(err);
    }
    this.advanceEnded();
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
      this.inFlight = 0;
      this.finishFreeRun();
    }
    if (this.listenerCount("error") > 0) this.emit("error", err);
    if (this._state === "ready" || this._state === "running") this._state = "failed";
    this.conditions.changed();
  }

  /** A restarted runner identified: once both ways are proven, tell everyone where it is and initialize it at the next epoch. */
  private async rejoin(runnerId: string): Promise<void> {
    try {
      await this.conditions.until("restart", () => this.connected(runnerId), Date.now() + this.options.initTimeoutMs, () => `restarted runner ${runnerId} did not come up`, this.command!.probes.waitFor([runnerId]));
    } catch (err) {
      this.runnerDown(runnerId, (err as Error).message, false);
      return;
    }
    this.announce();
    this.command!.broadcast(makeMessage("init", COMMAND_ID, { first_epoch: this.nextEpoch }));
  }
}

function hostOf(endpoint: string): string {
  const m = /^tcp:\/\/(\[[^\]]+\]|[^:]+):/.exec(endpoint);
  if (!m) throw new TubularError("TUBULAR_ERR_TRANSPORT", `not a tcp endpoint: ${endpoint}`);
  return m[1]!;
}

/** The bound endpoint with the advertised host in place of the bind address. */
function readvertise(endpoint: string, host: string): string {
  const port = endpoint.slice(endpoint.lastIndexOf(":") + 1);
  return `tcp://${host}:${port}`;
}

/** This machine's first non-internal IPv4 address (what other machines most likely reach). */
export function externalAddress(): string {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  return "127.0.0.1";
}
