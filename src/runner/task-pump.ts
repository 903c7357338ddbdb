/**
 * TaskPump: runs the scheduler's ready tasks on this process's node
 * instances, synchronous nodes inline (the free-run hot path), asynchronous
 * ones re-entering when they settle. Shared by LocalRunner and the ZeroMQ
 * node runner, which differ only in what they do with a completion.
 */
import type { NodeError } from "../errors.ts";
import type { Epoch } from "../graph/epoch.ts";
import type { Emitted, Scheduler, Task } from "../graph/scheduler.ts";
import { execute, type Instances } from "./execute.ts";
import { dropMetric, metricLogger, type NodeMetric } from "../node/metrics.ts";
import { NodeMetrics } from "./node-metrics.ts";

export interface PumpHooks {
  /** A local node completed an epoch (ran, or was skipped: then `emitted` is empty). Called before the scheduler hears of it. */
  completed(task: Task, emitted: Emitted[]): void;
  /** A local node threw; the node then counts as completed with no events. */
  failed(task: Task, error: NodeError): void;
  /** Called after each round of work, e.g. to finish epochs or flush batched messages. */
  settled(): void;
  /** A node called `ctx.log`; without this hook its metrics are dropped. */
  metric?(metric: NodeMetric): void;
}

export interface PumpOptions {
  /**
   * A runner process answers heartbeats from its event loop: a pump that runs
   * longer than this stops, flushes what it has (`settled`), and resumes after
   * one timer tick, so timers fire. Without it, one batch of 128 epochs of a
   * 100-node chain packed into one process ran ~1 s without a break on a
   * loaded machine, and the runner was declared dead (bench/scaling.bench.ts,
   * chain100). Default: no limit (LocalRunner runs whole batches).
   */
  readonly sliceMs?: number;
  /** Where runs are counted and timed; a runner that re-makes its pump passes its own to keep the counts. */
  readonly metrics?: NodeMetrics;
  /** The step of a `ctx.log` metric given none (default: the root epoch). */
  readonly metricStep?: (epoch: Epoch) => number;
}

export class TaskPump {
  private pumping = false;
  /** Tasks running asynchronously right now. */
  active = 0;
  /** Ready tasks left over when a slice ran out, run first on the next pump. */
  private backlog: Task[] = [];
  private resume: NodeJS.Timeout | undefined;
  /** Made once: the hot path passes it, never builds it. */
  private readonly log: ReturnType<typeof metricLogger>;
  /** Runs, errors, events per signal and process times of the nodes this pump runs. */
  readonly metrics: NodeMetrics;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly instances: Instances,
    private readonly hooks: PumpHooks,
    private readonly options: PumpOptions = {},
  ) {
    const metric = hooks.metric?.bind(hooks);
    this.log = metric ? metricLogger(metric, options.metricStep) : dropMetric;
    this.metrics = options.metrics ?? new NodeMetrics();
  }

  pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    const slice = this.options.sliceMs;
    const until = slice === undefined ? Infinity : performance.now() + slice;
    try {
      let tasks = this.backlog.length > 0 ? this.backlog : this.scheduler.takeReady();
      this.backlog = [];
      while (tasks.length > 0) {
        for (let i = 0; i < tasks.length; i++) {
          this.run(tasks[i]!);
          // Reading the clock every 32 tasks keeps its cost out of the hot path.
          if ((i & 31) === 31 && performance.now() > until && i + 1 < tasks.length) {
            this.backlog = tasks.slice(i + 1);
            break;
          }
        }
        if (this.backlog.length > 0) break;
        tasks = this.scheduler.takeReady();
        if (tasks.length > 0 && performance.now() > until) {
          this.backlog = tasks;
          break;
        }
      }
    } finally {
      this.pumping = false;
    }
    if (this.backlog.length > 0 && this.resume === undefined) {
      this.resume = setTimeout(() => {
        this.resume = undefined;
        this.pump();
      }, 0);
    }
    this.hooks.settled();
  }

  /** Stops a resumption still pending (the runner is being released). */
  cancel(): void {
    clearTimeout(this.resume);
    this.resume = undefined;
    this.backlog = [];
  }

  private run(task: Task): void {
    const instance = task.inputs && this.instances.get(task.node.id);
    if (!instance) {
      this.complete(task, []);
      return;
    }
    let out: Emitted[] | Promise<Emitted[]>;
    const id = task.node.id;
    const t0 = performance.now();
    try {
      out = execute(instance, task, this.log);
    } catch (err) {
      this.metrics.record(id, performance.now() - t0, undefined);
      this.fail(task, err as NodeError);
      return;
    }
    if (Array.isArray(out)) {
      this.metrics.record(id, performance.now() - t0, out);
      this.complete(task, out);
      return;
    }
    this.active++;
    out.then(
      (emitted) => {
        this.active--;
        this.metrics.record(id, performance.now() - t0, emitted);
        this.complete(task, emitted);
        this.pump();
      },
      (err: NodeError) => {
        this.active--;
        this.metrics.record(id, performance.now() - t0, undefined);
        this.fail(task, err);
        this.pump();
      },
    );
  }

  private complete(task: Task, emitted: Emitted[]): void {
    this.hooks.completed(task, emitted);
    this.scheduler.complete(task.node.id, task.key, emitted);
  }

  private fail(task: Task, error: NodeError): void {
    this.hooks.failed(task, error);
    this.complete(task, []);
  }
}
