/**
 * ZmqRunner: runs a tube across node runner processes that talk ZeroMQ. It is
 * the public API over parts with one job each, and what it does itself is
 * open epochs (process, free-run's window) and close them. The parts:
 * Bootstrap (processes, sockets, start-up), Roster (one record per runner),
 * RunnerLiveness, Control (the command inbox), HostSide (host agents),
 * Recovery (a runner's death and restart), NodeTable (per-node switches and
 * figures), EventIntake (completions heard), DriverNodes (the return node,
 * run here) and RunReport (status, stats); the EpochLedger is EpochRunner's.
 */
import { randomBytes } from "node:crypto";
import { availableParallelism } from "node:os";
import { TubularError } from "../../errors.ts";
import { resolveProcessInput } from "../../graph/process-input.ts";
import { Scheduler } from "../../graph/scheduler.ts";
import type { Tube } from "../../graph/tube.ts";
import { rootLogger, type Logger } from "../../log.ts";
import { parseZmqRunnerOptions, type ResolvedZmqRunnerOptions, type ZmqRunnerOptions } from "./options.ts";
import { makeMessage } from "../../protocol/message.ts";
import type { RunStatus } from "../../protocol/status-report.ts";
import { Conditions } from "./conditions.ts";
import { RunnerLiveness } from "./liveness.ts";
import type { RunnerEvents, RunnerState } from "../runner.ts";
import { EpochRunner } from "../epoch-runner.ts";
import { COMMAND_ID, type CommandNode } from "./command-node.ts";
import { placeNodes, upstreamNodes, type Placement } from "./placement.ts";
import { defaultProcessesPerHost } from "./packing.ts";
import { Roster } from "./roster.ts";
import { Bootstrap } from "./bootstrap.ts";
import { HostSide } from "./host-side.ts";
import { NodeTable } from "./node-table.ts";
import { Recovery } from "./recovery.ts";
import { Control } from "./control.ts";
import { DriverNodes } from "./driver-nodes.ts";
import { EventIntake } from "./event-intake.ts";
import { RunReport, type ZmqRunnerStats } from "./run-report.ts";

export type { ZmqRunnerOptions } from "./options.ts";
export type { NodeReport, RunStatus } from "../../protocol/status-report.ts";
export type { ZmqRunnerStats } from "./run-report.ts";

export class ZmqRunner extends EpochRunner {
  readonly placement: Placement;
  private readonly options: ResolvedZmqRunnerOptions;
  private readonly log: Logger;
  /** The run's processes, sockets and files, and how they come up. */
  private readonly boot: Bootstrap;
  /** One record per runner process: everything the driver knows of it. */
  private readonly roster: Roster;
  private readonly liveness: RunnerLiveness;
  private readonly hostSide: HostSide;
  private readonly nodes: NodeTable;
  private readonly recovery: Recovery;
  private readonly control: Control;
  private readonly intake: EventIntake;
  private readonly report: RunReport;
  private timers: NodeJS.Timeout[] = [];
  private readonly conditions = new Conditions(() => this.control.initError ?? this.fatal);
  private readonly scheduler: Scheduler;
  private readonly driverNodes: DriverNodes;
  /** The run's secret: only an identify carrying it binds a runner to a connection. */
  private readonly runToken = randomBytes(16).toString("hex");

  constructor(tube: Tube, options: ZmqRunnerOptions = {}) {
    super(tube);
    this.options = parseZmqRunnerOptions(options);
    // A child logger with its own level: the process's root level is not this runner's to change.
    this.log = rootLogger().child({ component: "zmq-runner", tube: tube.id }, this.options.logLevel ? { level: this.options.logLevel } : {});
    this.placement = placeNodes(tube, { mode: this.options.processes, processesPerHost: this.options.processesPerHost ?? defaultProcessesPerHost(availableParallelism()) });
    this.roster = new Roster(this.placement, (id) => upstreamNodes(tube, id));
    this.scheduler = new Scheduler(tube, { local: this.placement.driverNodes, firstEpoch: 0 });
    if (options.listen && !options.keys) throw new TubularError("TUBULAR_ERR_KEY", "listening for host agents needs the command node's keys (--keys DIR)");
    const command = () => this.boot.command;
    const listening = this.options.listen !== undefined;
    const wants = (name: keyof RunnerEvents) => this.listenerCount(name) > 0;
    // What most parts read; each part's own deps say which of these it uses.
    const base = { tube, placement: this.placement, roster: this.roster, conditions: this.conditions, log: this.log, scheduler: this.scheduler, ledger: this.ledger, command };
    this.liveness = new RunnerLiveness({
      timeoutMs: this.options.heartbeatMs * 4,
      runToken: this.runToken,
      isRunner: (id) => this.placement.runners.has(id),
      // Not while closing: the runners are exiting, and a reply to a connection gone is only noise.
      reply: (connection) => this.recovery.closing || command()?.sendTo(connection, makeMessage("heartbeat", COMMAND_ID, null)),
      refuse: (reason) => command()?.codec.drops.record("schema", reason),
      onDead: (runnerId, silentMs) => this.recovery.silent(runnerId, silentMs),
    });
    this.hostSide = new HostSide({ ...base, listening, heartbeatMs: this.options.heartbeatMs, runId: () => this.boot.runId, runnerDown: (id, how, restarting) => this.recovery.runnerDown(id, how, restarting) });
    this.nodes = new NodeTable({ ...base, initTimeoutMs: this.options.initTimeoutMs, closed: () => this._state === "closed", failure: () => this.fatal, createOnDriver: (id) => this.driverNodes.create(id) });
    this.boot = new Bootstrap({
      ...base,
      options: this.options,
      hosts: this.hostSide.hosts,
      runToken: this.runToken,
      heard: (runnerId) => this.liveness.heard(runnerId),
      onExit: (info) => this.recovery.exited(info),
      handlers: {
        control: (from, msg) => this.control.onMessage(from, msg),
        event: (msg) => this.intake.onEvent(msg),
        subscribed: (runnerId) => (this.roster.subscribed(runnerId), this.conditions.changed()),
        corrupt: (runnerId, err) => this.recovery.corrupt(runnerId, err),
      },
    });
    const parts = { ...base, liveness: this.liveness, boot: this.boot, nodes: this.nodes, hostSide: this.hostSide };
    this.recovery = new Recovery({
      ...parts,
      run: { state: () => this._state, failed: () => this.fatal !== undefined, fail: (err) => this.failRun(err), nextEpoch: () => this.nextEpoch, emitError: (err) => wants("error") && this.emit("error", err) },
    });
    this.intake = new EventIntake({ ...parts, heard: (events) => wants("event") && events.forEach((ev) => this.emit("event", ev)), pump: () => this.driverNodes.run() });
    this.driverNodes = new DriverNodes({
      ...parts,
      wantsEvents: () => wants("event"),
      event: (ev) => this.emit("event", ev),
      failed: (key, err) => this.intake.failed(key, err),
      settled: () => this.finishEpochs(),
      metric: (m) => wants("metric") && this.emit("metric", m),
    });
    this.report = new RunReport(parts);
    this.control = new Control({
      ...parts,
      recovery: this.recovery,
      runToken: this.runToken,
      listening,
      run: { wantsEvents: () => wants("event"), status: () => this.status(), metric: (m) => wants("metric") && this.emit("metric", m), restarted: () => this.afterFinalize() },
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
    return this.report.pids();
  }

  /** Hosts, their resources, and each node's runner, host, pid, status, restarts and epochs processed. */
  status(): RunStatus {
    return this.report.status(this._state, this.driverNodes.metrics(), this.ledger.completed);
  }

  /** Kills one runner process (for tests and tools); the runner notices as it would a crash. */
  killRunner(runnerId: string, signal: NodeJS.Signals = "SIGKILL"): boolean {
    return this.boot.processes?.kill(runnerId, signal) ?? false;
  }

  stats(): ZmqRunnerStats {
    return this.report.stats(this.ledger.completed);
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
      await this.driverNodes.start();
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
        this.liveness.check();
        this.hostSide.beat();
      }, this.options.heartbeatMs),
    );
    await this.boot.bringUp();
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
    this.driverNodes.run();
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
    return this.nodes.switch(id, enabled, call);
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
    this.recovery.close();
    await this.boot.stopRunners();
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.driverNodes.release();
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
    if (opened > 0) this.driverNodes.run();
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
}

export { externalAddress } from "./bootstrap.ts";
