/**
 * LocalRunner: runs a tube in this process. The reference every other runner
 * is held to: same calls, same results.
 */
import { EventEmitter } from "node:events";
import { NodeError, TubularError } from "../errors.ts";
import { keyToEpoch } from "../graph/epoch.ts";
import { resolveProcessInput } from "../graph/process-input.ts";
import { Scheduler, type Emitted, type Task } from "../graph/scheduler.ts";
import type { Tube } from "../graph/tube.ts";
import { instantiate, release, type Instances } from "./execute.ts";
import { TaskPump } from "./task-pump.ts";
import type { EpochResult, Runner, RunnerEvents, RunnerState, TubeEvent } from "./runner.ts";

export interface LocalRunnerOptions {
  /** Epochs in flight at once during free-run (backpressure window). Default 16. */
  maxInFlight?: number;
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

export class LocalRunner extends EventEmitter implements Runner {
  readonly tube: Tube;
  private readonly maxInFlight: number;
  private scheduler: Scheduler;
  private instances: Instances = new Map();
  private _state: RunnerState = "created";
  private nextEpoch = 0;
  private eventId = 0;
  private readonly waiting = new Map<number, Pending>();
  private readonly errors = new Map<number, NodeError>();
  private inFlight = 0;
  private freeRun: { remaining: number; input: Record<string, unknown>; results: EpochResult[] | null; done: Pending; error?: Error } | null = null;
  private fillScheduled = false;
  private pump: TaskPump;

  constructor(tube: Tube, options: LocalRunnerOptions = {}) {
    super();
    this.tube = tube;
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 16);
    this.scheduler = new Scheduler(tube);
    this.pump = this.makePump();
  }

  private makePump(): TaskPump {
    return new TaskPump(this.scheduler, this.instances, {
      completed: (task, emitted) => this.onCompleted(task, emitted),
      failed: (task, err) => this.onFailed(task, err),
      settled: () => this.finishEpochs(),
    });
  }

  get state(): RunnerState {
    return this._state;
  }

  override on<K extends keyof RunnerEvents>(name: K, listener: RunnerEvents[K]): this {
    return super.on(name, listener);
  }

  override off<K extends keyof RunnerEvents>(name: K, listener: RunnerEvents[K]): this {
    return super.off(name, listener);
  }

  async init(): Promise<void> {
    this.expect(["created"], "init");
    this._state = "initializing";
    try {
      this.instances = await instantiate(this.tube);
      this.pump = this.makePump();
    } catch (err) {
      this._state = "failed";
      throw err;
    }
    this._state = "ready";
  }

  async process(input?: Record<string, unknown>): Promise<unknown> {
    this.expect(["ready"], "process");
    const processInput = resolveProcessInput(this.tube, input);
    const epoch = this.nextEpoch++;
    const done = new Promise<unknown>((resolve, reject) => this.waiting.set(epoch, { resolve, reject }));
    this.openEpoch(epoch, processInput);
    return done;
  }

  async *iter(n?: number, inputs?: Iterable<Record<string, unknown>>): AsyncIterable<unknown> {
    const it = inputs?.[Symbol.iterator]();
    for (let i = 0; n === undefined || i < n; i++) {
      const next = it?.next();
      if (next?.done) return;
      yield await this.process(next?.value);
    }
  }

  async start(n?: number): Promise<void> {
    this.beginFreeRun(n, false).catch(() => undefined);
  }

  async run(n?: number): Promise<EpochResult[]> {
    return this.beginFreeRun(n, n !== undefined);
  }

  async stop(): Promise<void> {
    if (!this.freeRun) return;
    const run = this.freeRun;
    run.remaining = 0;
    await new Promise<void>((resolve) => {
      const prev = run.done;
      run.done = {
        resolve: (v) => (prev.resolve(v), resolve()),
        reject: (e) => (prev.reject(e), resolve()),
      };
      if (this.inFlight === 0) this.finishFreeRun();
    });
  }

  async deinit(): Promise<void> {
    if (this._state === "closed") return;
    if (this.freeRun) await this.stop();
    const closed = new TubularError("TUBULAR_ERR_RUNNER_STATE", "the runner was deinitialized");
    for (const p of this.waiting.values()) p.reject(closed);
    this.waiting.clear();
    this._state = "closed";
    const errors = await release(this.instances);
    if (errors.length > 0) throw errors[0];
  }

  private expect(states: RunnerState[], call: string): void {
    if (!states.includes(this._state)) {
      throw new TubularError("TUBULAR_ERR_RUNNER_STATE", `${call}() needs the runner to be ${states.join(" or ")}, but it is ${this._state}`, { state: this._state });
    }
  }

  private beginFreeRun(n: number | undefined, keep: boolean): Promise<EpochResult[]> {
    this.expect(["ready"], n === undefined ? "start" : "run");
    const processInput = resolveProcessInput(this.tube, {});
    this._state = "running";
    return new Promise<EpochResult[]>((resolve, reject) => {
      this.freeRun = {
        remaining: n ?? Infinity,
        input: processInput,
        results: keep ? [] : null,
        done: { resolve: (v) => resolve(v as EpochResult[]), reject },
      };
      this.fill();
    });
  }

  /**
   * Opens epochs up to the in-flight window, and at most one window per call:
   * a synchronous graph completes each epoch as it is opened, so without that
   * bound an unbounded free-run would never yield to timers, I/O or stop().
   */
  private fill(): void {
    this.fillScheduled = false;
    const run = this.freeRun;
    if (!run) return;
    let opened = 0;
    while (run.remaining > 0 && this.inFlight < this.maxInFlight && opened < this.maxInFlight) {
      run.remaining--;
      opened++;
      this.openEpoch(this.nextEpoch++, run.input);
    }
    if (run.remaining === 0 && this.inFlight === 0) this.finishFreeRun();
    else if (run.remaining > 0 && this.inFlight < this.maxInFlight) this.scheduleFill();
  }

  /** One pending fill at a time, on the next turn of the event loop. */
  private scheduleFill(): void {
    if (this.fillScheduled) return;
    this.fillScheduled = true;
    setImmediate(() => this.fill());
  }

  private finishFreeRun(): void {
    const run = this.freeRun;
    if (!run) return;
    this.freeRun = null;
    if (this._state === "running") this._state = "ready";
    if (run.error) run.done.reject(run.error);
    else run.done.resolve(run.results ?? []);
  }

  private openEpoch(epoch: number, input: Record<string, unknown>): void {
    this.inFlight++;
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
    const root = typeof task.epoch === "number" ? task.epoch : task.epoch[0];
    if (!this.errors.has(root)) this.errors.set(root, err);
  }

  private finishEpochs(): void {
    const completed = this.scheduler.takeCompleted();
    if (completed.length === 0) return;
    for (const epoch of completed.sort((a, b) => a - b)) {
      const ret = this.tube.returnNode;
      const raw = ret === undefined ? undefined : this.scheduler.valueOf(epoch, ret, "value");
      const value = raw === undefined ? null : raw;
      this.scheduler.closeEpoch(epoch);
      this.inFlight--;
      const error = this.errors.get(epoch);
      this.errors.delete(epoch);
      const waiter = this.waiting.get(epoch);
      this.waiting.delete(epoch);
      if (error) {
        if (this.listenerCount("error") > 0) this.emit("error", error);
        if (waiter) waiter.reject(error);
        else if (this.freeRun && !this.freeRun.error) {
          this.freeRun.error = error;
          this.freeRun.remaining = 0;
        }
        continue;
      }
      const result: EpochResult = { epoch, value };
      this.freeRun?.results?.push(result);
      this.emit("epoch", result);
      waiter?.resolve(value);
    }
    if (this.freeRun) {
      // Let timers, stop() and I/O in between windows of a synchronous graph.
      if (this.freeRun.remaining > 0) this.scheduleFill();
      else if (this.inFlight === 0) this.finishFreeRun();
    }
  }
}
