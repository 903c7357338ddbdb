/**
 * One claimed run of a job registry, executed here: the one place both host
 * agents (HTTP worker, WebSocket worker) run a graph and report on it. It
 * loads the graph with the run's inputs, runs its epochs on a ZeroMQ runner
 * (or on a thread of this process, graph-thread.ts), and tells a `RunReport` what happens: started,
 * progress, metrics (the runtime's per-epoch figures and the nodes'
 * `ctx.log`), then completed with each epoch's return value, or failed with
 * the error. How a report reaches the server is the agent's business.
 *
 * Metrics are buffered and handed over every quarter second and once at the
 * end (before completed / failed), so a fast graph does not make one report
 * per epoch.
 */
import type { Logger } from "pino";
import type { NodeMetric } from "../node/metrics.ts";
import type { Runner } from "../runner/runner.ts";
import { ZmqRunner } from "../runner/zmq/zmq-runner.ts";
import { loadTubeFromSpec } from "../spec/load.ts";
import { GraphThreads } from "./graph-thread.ts";
import { jsonSafe } from "./json-safe.ts";

/** A run as a registry hands it out. */
export interface ClaimedRun {
  run_id: string;
  attempt: number;
  graph: Record<string, unknown>;
  inputs: Record<string, unknown>;
}

/** One metric point of a run, as the Run API stores it. */
export interface RunMetric {
  name: string;
  value: unknown;
  step: number;
}

export interface RunReport {
  started(): void;
  /** Percent of the epochs done (not sent for the last one: completed says it). */
  progress(percent: number): void;
  metrics(batch: RunMetric[]): void;
  completed(values: unknown[]): void;
  failed(message: string): void;
}

export interface GraphRunOptions {
  /** Where graphs run: "zmq" (node runner processes, default) or "local" (in this process, on `threads`). */
  runner?: "zmq" | "local";
  /** The agent's run threads, for `runner: "local"`. */
  threads?: GraphThreads;
  /** Folder relative module node types resolve from; default the working directory. */
  modulesDir?: string;
  logger: Logger;
}

const METRICS_EVERY_MS = 250;
const CANCELLED = Symbol("cancelled");
const RELEASE_MS = 5000;
/**
 * An agent runs queued work, often several runs at once on a busy machine: a slow start of its runner
 * processes is better than a failed run (the interactive default is 20 s).
 */
const INIT_TIMEOUT_MS = 60_000;

export class GraphRun {
  private cancelledFlag = false;
  private onCancel: () => void = () => undefined;
  /** Resolves on cancel: an epoch in flight when its runner is released may never settle, so the loop races it. */
  private readonly cancelledSignal = new Promise<typeof CANCELLED>((resolve) => (this.onCancel = () => resolve(CANCELLED)));
  private runner: Runner | undefined;
  private buffer: RunMetric[] = [];

  constructor(readonly op: ClaimedRun, private readonly o: GraphRunOptions) {}

  get cancelled(): boolean {
    return this.cancelledFlag;
  }

  /** Stops the run: nothing more is reported (the server already knows why it ends). */
  cancel(): Promise<void> {
    this.cancelledFlag = true;
    this.onCancel();
    return this.release();
  }

  private released: Promise<void> | undefined;

  /** Releases the runner once, however many ask; waits at most RELEASE_MS (a release stuck on an epoch in flight must not hold the agent's slot). */
  private release(): Promise<void> {
    if (!this.runner) return Promise.resolve();
    this.released ??= this.runner.deinit().catch((err: unknown) => this.o.logger.warn({ run: this.op.run_id, err: (err as Error).message }, "releasing the run's runner failed"));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.o.logger.warn({ run: this.op.run_id }, "the run's runner is still releasing; going on without it");
        resolve();
      }, RELEASE_MS);
    });
    return Promise.race([this.released, late]).finally(() => clearTimeout(timer));
  }

  /** Runs the graph to its end; never rejects (a failure is reported). */
  async execute(report: RunReport): Promise<void> {
    const { op } = this;
    const { epochs: rawEpochs, process_inputs: rawProcess, ...tubeInputs } = op.inputs;
    const epochs = typeof rawEpochs === "number" ? rawEpochs : 1;
    const processInputs = Array.isArray(rawProcess) ? (rawProcess as Array<Record<string, unknown>>) : [];
    const flush = () => {
      if (this.buffer.length === 0 || this.cancelledFlag) return;
      const batch = this.buffer;
      this.buffer = [];
      report.metrics(batch);
    };
    const timer = setInterval(flush, METRICS_EVERY_MS);
    timer.unref();
    const tally = new EpochTally(epochs, (...m) => this.buffer.push(...m), report);
    try {
      if (this.o.runner === "local") await this.onThread(tubeInputs, processInputs, tally);
      else await this.onZmq(tubeInputs, processInputs, tally);
      if (this.cancelledFlag) return;
      // Node metrics still travelling from runner processes arrive before their runners close.
      await this.release();
      flush();
      report.completed(tally.values);
    } catch (err) {
      if (this.cancelledFlag) return;
      const message = (err as Error).message;
      this.o.logger.info({ run: op.run_id, err: message }, "run failed");
      await this.release();
      flush();
      report.failed(message);
    } finally {
      clearInterval(timer);
      await this.release();
    }
  }

  /** On ZeroMQ node runner processes, driven from here. */
  private async onZmq(tubeInputs: Record<string, unknown>, processInputs: Array<Record<string, unknown>>, tally: EpochTally): Promise<void> {
    const { op } = this;
    const tube = await loadTubeFromSpec(op.graph, { baseDir: this.o.modulesDir ?? process.cwd(), input: tubeInputs, file: `<run ${op.run_id}>` });
    this.runner = new ZmqRunner(tube, { logLevel: (this.o.logger.level as "warn") ?? "warn", initTimeoutMs: INIT_TIMEOUT_MS });
    this.runner.on("metric", (m: NodeMetric) => this.buffer.push({ name: m.name, value: m.value, step: m.step }));
    if ((await Promise.race([this.runner.init(), this.cancelledSignal])) === CANCELLED) return;
    tally.started();
    for (let i = 0; i < tally.epochs; i++) {
      if (this.cancelledFlag) return;
      const asked = performance.now();
      const value = await Promise.race([this.runner.process(processInputs[i]), this.cancelledSignal]);
      if (value === CANCELLED) return;
      tally.epoch(jsonSafe(value), performance.now() - asked);
    }
  }

  /** In this process, on one of the agent's run threads (graph-thread.ts): a cancel ends the thread. */
  private async onThread(tubeInputs: Record<string, unknown>, processInputs: Array<Record<string, unknown>>, tally: EpochTally): Promise<void> {
    const own = this.o.threads ? undefined : new GraphThreads();
    const threads = this.o.threads ?? own!;
    const job = { kind: "run" as const, op: this.op, modulesDir: this.o.modulesDir ?? process.cwd(), tubeInputs, epochs: tally.epochs, processInputs };
    try {
      await threads.run(job, {
        started: () => tally.started(),
        epoch: (value, ms) => tally.epoch(value, ms),
        metric: (name, value, step) => this.buffer.push({ name, value, step }),
      }, this.cancelledSignal);
    } finally {
      await own?.close();
    }
  }
}

/** What the epochs of a run come to: the return values, the runtime's per-epoch metrics, progress reports. */
class EpochTally {
  readonly values: unknown[] = [];
  private began = 0;
  private lastPct = -1;
  private lastAt = 0;

  constructor(readonly epochs: number, private readonly metrics: (...m: RunMetric[]) => void, private readonly report: RunReport) {}

  started(): void {
    this.began = performance.now();
    this.report.started();
  }

  epoch(value: unknown, latencyMs: number): void {
    this.values.push(value);
    const i = this.values.length - 1;
    const seconds = (performance.now() - this.began) / 1000;
    this.metrics(
      { name: "epochs", value: i + 1, step: i },
      { name: "epochs_per_s", value: seconds > 0 ? (i + 1) / seconds : 0, step: i },
      { name: "latency_ms", value: latencyMs, step: i },
    );
    const pct = Math.floor(((i + 1) / this.epochs) * 100);
    // One progress report per percent at most, and not more than 10 a second.
    if (i + 1 < this.epochs && pct !== this.lastPct && Date.now() - this.lastAt >= 100) {
      this.report.progress(pct);
      this.lastPct = pct;
      this.lastAt = Date.now();
    }
  }
}
