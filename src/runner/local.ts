/**
 * LocalRunner: runs a tube in this process. The reference every other runner
 * is held to: same calls, same results.
 */
import { TubularError, type NodeError } from "../errors.ts";
import { keyToEpoch } from "../graph/epoch.ts";
import { resolveProcessInput } from "../graph/process-input.ts";
import { Scheduler, type Emitted, type Task } from "../graph/scheduler.ts";
import type { Tube } from "../graph/tube.ts";
import { EpochRunner } from "./epoch-runner.ts";
import type { Waiter } from "./epoch-ledger.ts";
import { instantiate, release, type Instances, type RunChild } from "./execute.ts";
import { TaskPump } from "./task-pump.ts";
import { NodeMetrics, type NodeMetricsReport } from "./node-metrics.ts";
import { endAssetEpoch } from "../node/assets.ts";
import type { TubeEvent } from "./runner.ts";
import { rootStep, type MetricSink, type NodeMetric } from "../node/metrics.ts";
import type { Epoch } from "../graph/epoch.ts";

export interface LocalRunnerOptions {
  /** Epochs in flight at once during free-run (backpressure window). Default 16. */
  maxInFlight?: number;
}

/** The parent's root epoch each nested tube's runner is processing now (set by `nestedRuns`). */
const parentSteps = new WeakMap<LocalRunner, () => number | undefined>();

/**
 * How every runner runs the child graph of a `tube` node: in this process, on a LocalRunner
 * whose nodes' `ctx.log` metrics go to `sink` like the parent's own nodes' metrics, named
 * `tubeNode/innerNode` (node ids hold no `/`; deeper tubes add their own prefix), with the
 * parent's epoch as the step a node gives none (`parentStep` maps that epoch to the parent's own
 * step, so a tube two levels down still counts by the outermost epoch). One factory for
 * LocalRunner, the driver's nodes and node runner processes, so a nested tube reports the same
 * way wherever it runs.
 */
export function nestedRuns(sink: MetricSink, parentStep: (epoch: Epoch) => number = rootStep): RunChild {
  return (child, nodeId) => {
    const runner = new LocalRunner(child);
    // A tube node is stateful: the child runs one parent epoch at a time, so one current step holds.
    let step: number | undefined;
    parentSteps.set(runner, () => step);
    runner.on("metric", (m: NodeMetric) => sink({ ...m, nodeId: `${nodeId}/${m.nodeId}` }));
    return {
      init: () => runner.init(),
      process: (input, at) => {
        step = at === undefined ? undefined : parentStep(at);
        return runner.process(input);
      },
      deinit: () => runner.deinit(),
    };
  };
}

export class LocalRunner extends EpochRunner {
  private readonly maxInFlight: number;
  private readonly scheduler: Scheduler;
  private instances: Instances = new Map();
  private eventId = 0;
  private fillScheduled = false;
  private pump: TaskPump;
  /** Kept across the pumps init makes, so the counts run on. */
  private readonly metrics = new NodeMetrics();

  constructor(tube: Tube, options: LocalRunnerOptions = {}) {
    super(tube);
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 16);
    this.scheduler = new Scheduler(tube);
    this.pump = this.makePump();
  }

  private makePump(): TaskPump {
    return new TaskPump(this.scheduler, this.instances, {
      completed: (task, emitted) => this.onCompleted(task, emitted),
      failed: (task, err) => this.onFailed(task, err),
      settled: () => this.finishEpochs(),
      metric: this.forwardMetric,
    }, { metrics: this.metrics, metricStep: (epoch) => this.metricStep(epoch) });
  }

  private readonly forwardMetric = (m: NodeMetric): void => {
    if (this.listenerCount("metric") > 0) this.emit("metric", m);
  };

  /** Nested tubes' metrics come out of this runner as its own nodes' do. */
  private readonly nested: RunChild = nestedRuns(this.forwardMetric, (epoch) => this.metricStep(epoch));

  private metricStep(epoch: Epoch): number {
    return parentSteps.get(this)?.() ?? rootStep(epoch);
  }

  /** Per node: runs, errors, events per signal, process time p50/p99 (for the dashboard). */
  nodeMetrics(): Record<string, NodeMetricsReport> {
    return this.metrics.report();
  }

  async init(): Promise<void> {
    this.expect(["created"], "init");
    this._state = "initializing";
    try {
      this.instances = await instantiate(this.tube, this.nested);
      this.pump = this.makePump();
    } catch (err) {
      this._state = "failed";
      this.end(err as Error);
      throw err;
    }
    this._state = "ready";
  }

  enabledNodes(): string[] {
    return [...this.tube.nodes.keys()].filter((id) => this.scheduler.isEnabled(id));
  }

  async disableNode(id: string): Promise<void> {
    this.expectNode(id, "disableNode");
    this.scheduler.setEnabled(id, false);
  }

  async enableNode(id: string): Promise<void> {
    this.expectNode(id, "enableNode");
    if (!this.instances.has(id)) {
      for (const [k, v] of await instantiate(this.tube, this.nested, new Set([id]), this.instances)) this.instances.set(k, v);
    }
    this.scheduler.setEnabled(id, true);
  }

  async process(input?: Record<string, unknown>): Promise<unknown> {
    this.expect(["ready"], "process");
    const processInput = resolveProcessInput(this.tube, input);
    const epoch = this.nextEpoch++;
    let waiter!: Waiter;
    const done = new Promise<unknown>((resolve, reject) => (waiter = { resolve, reject }));
    this.openEpoch(epoch, processInput, waiter);
    return done;
  }

  async deinit(): Promise<void> {
    if (this._state === "closed") return;
    let failure: Error | undefined;
    if (this.freeRun) await this.stop().catch((err: Error) => (failure = err));
    this.rejectWaiting(new TubularError("TUBULAR_ERR_RUNNER_STATE", "the runner was deinitialized"));
    this._state = "closed";
    this.end(failure);
    const errors = await release(this.instances);
    if (errors.length > 0) throw errors[0];
  }

  /**
   * Opens epochs up to the in-flight window, and at most one window per call:
   * a synchronous graph completes each epoch as it is opened, so without that
   * bound an unbounded free-run would never yield to timers, I/O or stop().
   */
  protected fill(): void {
    this.fillScheduled = false;
    const run = this.freeRun;
    if (!run) return;
    let opened = 0;
    while (run.remaining > 0 && this.ledger.inFlight < this.maxInFlight && opened < this.maxInFlight) {
      run.remaining--;
      opened++;
      this.openEpoch(this.nextEpoch++, run.input);
    }
    if (run.remaining === 0 && this.ledger.inFlight === 0) this.finishFreeRun();
    else if (run.remaining > 0 && this.ledger.inFlight < this.maxInFlight) this.scheduleFill();
  }

  /** One pending fill at a time, on the next turn of the event loop. */
  private scheduleFill(): void {
    if (this.fillScheduled) return;
    this.fillScheduled = true;
    setImmediate(() => this.fill());
  }

  private openEpoch(epoch: number, input: Record<string, unknown>, waiter?: Waiter): void {
    this.ledger.open(epoch, waiter);
    this.scheduler.openEpoch(epoch, input);
    this.pump.pump();
  }

  private onCompleted(task: Task, emitted: Emitted[]): void {
    if (this.listenerCount("event") === 0) return;
    const timestamp = Date.now();
    for (const e of emitted) {
      const event: TubeEvent = { id: ++this.eventId, timestamp, node_id: task.node.id, signal: e.signal, epoch: keyToEpoch(e.key), value: e.value };
      this.emit("event", event);
    }
  }

  private onFailed(task: Task, err: NodeError): void {
    this.ledger.fail(typeof task.epoch === "number" ? task.epoch : task.epoch[0], err);
  }

  private finishEpochs(): void {
    const completed = this.scheduler.takeCompleted();
    if (completed.length === 0) return;
    for (const epoch of completed.sort((a, b) => a - b)) {
      const ret = this.tube.returnNode;
      const raw = ret === undefined ? undefined : this.scheduler.valueOf(epoch, ret, "value");
      this.scheduler.closeEpoch(epoch);
      const released = endAssetEpoch(this.instances, epoch);
      if (released) released.catch((err: unknown) => this.listenerCount("error") > 0 && this.emit("error", err as Error));
      this.settle(epoch, raw === undefined ? null : raw);
    }
    if (this.freeRun) {
      // Let timers, stop() and I/O in between windows of a synchronous graph.
      if (this.freeRun.remaining > 0) this.scheduleFill();
      else if (this.ledger.inFlight === 0) this.finishFreeRun();
    }
  }
}
