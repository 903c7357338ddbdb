/**
 * EpochRunner: what every runner does the same way around its epochs: the
 * state, the callers waiting for an epoch, free-run bookkeeping (start, run,
 * stop, the results of run(n)), and how a finished epoch is reported. A runner
 * supplies how epochs are opened (`fill`) and executed.
 */
import { EventEmitter } from "node:events";
import { NodeError, TubularError } from "../errors.ts";
import { resolveProcessInput } from "../graph/process-input.ts";
import type { Tube } from "../graph/tube.ts";
import type { EpochResult, Runner, RunnerEvents, RunnerState } from "./runner.ts";
import { EpochLedger, type Waiter } from "./epoch-ledger.ts";

/** How many epochs iter() runs, at most, for one value (noob's max_iter_loops). */
export const ITER_MAX_EPOCHS = 100;

/** A caller waiting for a result (one epoch, or a whole free-run). */
export type Pending = Waiter;

export interface FreeRun {
  /** Epochs still to open (Infinity until stop()). */
  remaining: number;
  input: Record<string, unknown>;
  /** Kept only for run(n). */
  results: EpochResult[] | null;
  done: Pending;
  error?: Error;
  /** Begun by start(): nobody awaits it, so its failure is kept for stop() and closed(). */
  detached: boolean;
}

export abstract class EpochRunner extends EventEmitter implements Runner {
  readonly tube: Tube;
  protected _state: RunnerState = "created";
  protected nextEpoch = 0;
  /** Root epochs opened and not yet reported, with their callers and errors. */
  protected readonly ledger = new EpochLedger();
  protected freeRun: FreeRun | null = null;
  /** The failure that ended the run for good (see failRun): every later call fails with it. */
  protected fatal: Error | undefined;
  /** The source node whose generator returned, once one has: free-run stops there and no more epochs are run. */
  sourceEnded: string | undefined;
  /** The failure of a free-run begun by start() that no stop() has reported yet. */
  private unreported: Error | undefined;
  private ended: Promise<Error | undefined>;
  private endWith!: (err: Error | undefined) => void;
  private hasEnded = false;

  constructor(tube: Tube) {
    super();
    this.tube = tube;
    this.ended = new Promise((resolve) => (this.endWith = resolve));
  }

  /**
   * Resolves once the runner can no longer be used: with the failure that
   * ended it (init failed, a runner process died for good, or a free-run
   * begun by start() failed and no stop() reported it), or with undefined
   * after a clean deinit(). Never rejects.
   */
  closed(): Promise<Error | undefined> {
    return this.ended;
  }

  /** The runner's life is over, with `err` or cleanly; the first call decides. */
  protected end(err: Error | undefined): void {
    if (this.hasEnded) return;
    this.hasEnded = true;
    this.endWith(err ?? this.unreported);
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

  abstract init(): Promise<void>;
  abstract process(input?: Record<string, unknown>): Promise<unknown>;
  abstract deinit(): Promise<void>;
  abstract enabledNodes(): string[];
  abstract disableNode(id: string): Promise<void>;
  abstract enableNode(id: string): Promise<void>;
  /** Opens free-run epochs while the window allows. */
  protected abstract fill(): void;

  /**
   * As noob's iter: with a return node, an epoch that returned nothing (e.g. a
   * gather still collecting) is not a value; the next epoch runs, up to
   * ITER_MAX_EPOCHS epochs per value. Without a return node, each epoch's null.
   */
  async *iter(n?: number, inputs?: Iterable<Record<string, unknown>>): AsyncIterable<unknown> {
    const it = inputs?.[Symbol.iterator]();
    for (let i = 0; n === undefined || i < n; i++) {
      let value: unknown = null;
      for (let loops = 0; ; loops++) {
        if (loops >= ITER_MAX_EPOCHS) {
          throw new TubularError("TUBULAR_ERR_RUNNER_STATE", `iter(): ${ITER_MAX_EPOCHS} epochs in a row returned nothing`);
        }
        const next = it?.next();
        if (next?.done) return;
        value = await this.process(next?.value);
        if (value !== null || this.tube.returnNode === undefined) break;
      }
      yield value;
    }
  }

  /**
   * Starts free-run and returns. A failure that happens before it returns
   * rejects it; a later one rejects stop() (and is what closed() resolves
   * with if no stop() comes).
   */
  async start(n?: number): Promise<void> {
    this.beginFreeRun(n, false, true).catch(() => undefined);
    const failed = this.unreported;
    this.unreported = undefined;
    if (failed) throw failed;
  }

  async run(n?: number): Promise<EpochResult[]> {
    return this.beginFreeRun(n, n !== undefined, false);
  }

  /**
   * Stops free-run after the epochs in flight. Rejects with the failure of a
   * free-run begun by start() (reported once); a failure of run() goes to
   * run()'s caller instead.
   */
  async stop(): Promise<void> {
    const run = this.freeRun;
    if (!run) {
      const failed = this.unreported;
      this.unreported = undefined;
      if (failed) throw failed;
      return;
    }
    run.remaining = 0;
    await new Promise<void>((resolve, reject) => {
      const prev = run.done;
      run.done = {
        resolve: (v) => (prev.resolve(v), resolve()),
        reject: (e) => {
          prev.reject(e);
          if (!run.detached) return resolve();
          this.unreported = undefined;
          reject(e);
        },
      };
      if (this.ledger.inFlight === 0) this.finishFreeRun();
    });
  }

  protected expect(states: RunnerState[], call: string): void {
    if (!states.includes(this._state)) {
      throw new TubularError("TUBULAR_ERR_RUNNER_STATE", `${call}() needs the runner to be ${states.join(" or ")}, but it is ${this._state}`, { state: this._state });
    }
  }

  /** The checks of enableNode / disableNode, the same on every runner. */
  protected expectNode(id: string, call: string): void {
    this.expect(["ready", "running"], call);
    if (!this.tube.nodes.has(id)) {
      throw new TubularError("TUBULAR_ERR_UNKNOWN_NODE", `${call}(): the graph has no node "${id}" (its nodes: ${[...this.tube.nodes.keys()].join(", ")})`, { nodeId: id });
    }
  }

  /** Called as free-run begins (after the checks), e.g. to tell remote runners. */
  protected onFreeRunStart(_n: number | undefined): void {}

  /** Called as free-run ends. */
  protected onFreeRunEnd(): void {}

  private beginFreeRun(n: number | undefined, keep: boolean, detached: boolean): Promise<EpochResult[]> {
    this.expect(["ready"], n === undefined ? "start" : "run");
    const input = resolveProcessInput(this.tube, {});
    this._state = "running";
    this.onFreeRunStart(n);
    return new Promise<EpochResult[]>((resolve, reject) => {
      this.freeRun = { remaining: n ?? Infinity, input, results: keep ? [] : null, done: { resolve: (v) => resolve(v as EpochResult[]), reject }, detached };
      this.fill();
    });
  }

  protected finishFreeRun(): void {
    const run = this.freeRun;
    if (!run) return;
    this.freeRun = null;
    if (this._state === "running") this._state = "ready";
    this.onFreeRunEnd();
    if (run.error) {
      if (run.detached) this.unreported = run.error;
      run.done.reject(run.error);
    }
    else run.done.resolve(run.results ?? []);
  }

  /**
   * Reports a finished root epoch: its caller's promise, the `epoch` or
   * `error` event (the first error the ledger holds for it), and, in
   * free-run, its result (a node error ends free-run). An epoch given up
   * before (its runner died) is not reported again.
   */
  protected settle(epoch: number, value: unknown): void {
    const closed = this.ledger.close(epoch);
    if (!closed) return;
    const { waiter, error } = closed;
    if (error?.errorType === "SourceEnded") {
      // A source ran out: the run is over, not failed. This epoch has no result.
      this.sourceEnded ??= error.nodeId;
      if (this.freeRun) this.freeRun.remaining = 0;
      waiter?.reject(new NodeError("TUBULAR_ERR_SOURCE_ENDED", { nodeId: error.nodeId, epoch, errorType: "SourceEnded", errorMessage: `source "${error.nodeId}" has no more values` }));
      return;
    }
    if (error) {
      if (this.listenerCount("error") > 0) this.emit("error", error);
      if (waiter) waiter.reject(error);
      else if (this.freeRun && !this.freeRun.error) {
        this.freeRun.error = error;
        this.freeRun.remaining = 0;
      }
      return;
    }
    const result: EpochResult = { epoch, value };
    this.freeRun?.results?.push(result);
    this.emit("epoch", result);
    waiter?.resolve(value);
  }

  /**
   * The run cannot go on: every waiting call and later call fails with
   * `err`, a free-run ends with it, and closed() resolves with it.
   */
  protected failRun(err: Error): void {
    if (this.fatal) return;
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
  }

  /** Every open epoch is given up; its caller, if any, fails with `err`. */
  protected rejectWaiting(err: Error): void {
    for (const w of this.ledger.giveUpAll()) w.reject(err);
  }
}
