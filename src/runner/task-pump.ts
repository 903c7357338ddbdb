/**
 * TaskPump: runs the scheduler's ready tasks on this process's node
 * instances, synchronous nodes inline (the free-run hot path), asynchronous
 * ones re-entering when they settle. Shared by LocalRunner and the ZeroMQ
 * node runner, which differ only in what they do with a completion.
 */
import type { NodeError } from "../errors.ts";
import type { Emitted, Scheduler, Task } from "../graph/scheduler.ts";
import { execute, type Instances } from "./execute.ts";

export interface PumpHooks {
  /** A local node completed an epoch (ran, or was skipped: then `emitted` is empty). Called before the scheduler hears of it. */
  completed(task: Task, emitted: Emitted[]): void;
  /** A local node threw; the node then counts as completed with no events. */
  failed(task: Task, error: NodeError): void;
  /** Called after each round of work, e.g. to finish epochs or flush batched messages. */
  settled(): void;
}

export class TaskPump {
  private pumping = false;
  /** Tasks running asynchronously right now. */
  active = 0;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly instances: Instances,
    private readonly hooks: PumpHooks,
  ) {}

  pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let tasks = this.scheduler.takeReady(); tasks.length > 0; tasks = this.scheduler.takeReady()) {
        for (const task of tasks) this.run(task);
      }
    } finally {
      this.pumping = false;
    }
    this.hooks.settled();
  }

  private run(task: Task): void {
    const instance = task.inputs && this.instances.get(task.node.id);
    if (!instance) {
      this.complete(task, []);
      return;
    }
    let out: Emitted[] | Promise<Emitted[]>;
    try {
      out = execute(instance, task);
    } catch (err) {
      this.fail(task, err as NodeError);
      return;
    }
    if (Array.isArray(out)) {
      this.complete(task, out);
      return;
    }
    this.active++;
    out.then(
      (emitted) => {
        this.active--;
        this.complete(task, emitted);
        this.pump();
      },
      (err: NodeError) => {
        this.active--;
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
