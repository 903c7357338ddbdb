/**
 * DriverNodes: the nodes the driver runs in its own process (the return
 * node): their instances, and the pump that runs them as their inputs arrive
 * from the runners. Their completions go where the runners' go.
 */
import type { NodeError } from "../../errors.ts";
import type { Emitted, Scheduler } from "../../graph/scheduler.ts";
import type { Tube } from "../../graph/tube.ts";
import type { NodeMetric } from "../../node/metrics.ts";
import { instantiate, release, type Instances, type RunChild } from "../execute.ts";
import { nestedRuns } from "../local.ts";
import type { NodeMetricsReport } from "../node-metrics.ts";
import type { TubeEvent } from "../runner.ts";
import { TaskPump } from "../task-pump.ts";
import type { Placement } from "./placement.ts";

export interface DriverNodesDeps {
  readonly tube: Tube;
  readonly placement: Placement;
  readonly scheduler: Scheduler;
  /** Whether anyone listens to every event (else none is built). */
  wantsEvents(): boolean;
  event(ev: TubeEvent): void;
  /** A node failed in the epoch of `key`. */
  failed(key: string, err: NodeError): void;
  /** A round of work ended: epochs may have completed. */
  settled(): void;
  metric(m: NodeMetric): void;
}

export class DriverNodes {
  private instances: Instances = new Map();
  private pump: TaskPump | undefined;

  /** Nested tubes of the driver's nodes report their metrics as the driver's own nodes do. */
  private readonly nested: RunChild;

  constructor(private readonly deps: DriverNodesDeps) {
    this.nested = nestedRuns((m) => deps.metric(m));
  }

  /** Creates the driver's nodes; they run from now on. */
  async start(): Promise<void> {
    const { tube, placement, scheduler } = this.deps;
    this.instances = await instantiate(tube, this.nested, new Set(placement.driverNodes));
    this.pump = new TaskPump(scheduler, this.instances, {
      completed: (task, emitted) => this.emitEvents(task.node.id, emitted),
      failed: (task, err) => this.deps.failed(task.key, err),
      settled: () => this.deps.settled(),
      metric: (m) => this.deps.metric(m),
    });
  }

  /** Creates node `id` (enabled at run time) unless it exists. */
  async create(id: string): Promise<void> {
    if (this.instances.has(id)) return;
    for (const [k, v] of await instantiate(this.deps.tube, this.nested, new Set([id]), this.instances)) this.instances.set(k, v);
  }

  /** Runs what became ready. */
  run(): void {
    this.pump?.pump();
  }

  /** Their figures, by node. */
  metrics(): Record<string, NodeMetricsReport> {
    return this.pump?.metrics.report() ?? {};
  }

  async release(): Promise<void> {
    await release(this.instances);
  }

  private emitEvents(nodeId: string, emitted: Emitted[]): void {
    if (!this.deps.wantsEvents()) return;
    const timestamp = Date.now();
    for (const e of emitted) this.deps.event({ id: 0, timestamp, node_id: nodeId, signal: e.signal, epoch: Number(e.key), value: e.value });
  }
}
