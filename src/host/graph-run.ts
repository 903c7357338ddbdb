/**
 * One claimed run of a job registry, executed here: the one place both host
 * agents (HTTP worker, WebSocket worker) run a graph and report on it. It
 * loads the graph with the run's inputs, runs its epochs on a ZeroMQ runner
 * (or in this process), and tells a `RunReport` what happens: started,
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
import { LocalRunner } from "../runner/local.ts";
import type { Runner } from "../runner/runner.ts";
import { ZmqRunner } from "../runner/zmq/zmq-runner.ts";
import { loadTubeFromSpec } from "../spec/load.ts";

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
  /** Where graphs run: "zmq" (node runner processes, default) or "local" (in this process). */
  runner?: "zmq" | "local";
  /** Folder relative module node types resolve from; default the working directory. */
  modulesDir?: string;
  logger: Logger;
}

const METRICS_EVERY_MS = 250;
/**
 * How long an in-process graph may hold the agent's event loop before it lets one turn of it
 * run. A turn serves one step of the agent's (and, in tests, the server's) I/O, and an HTTP call
 * or a termination needs several: at 20 ms a cancel took 5-12 s to reach the run loop; at 2 ms
 * it takes well under a second, for one setImmediate per 2 ms of work.
 */
const YIELD_EVERY_MS = 2;
const CANCELLED = Symbol("cancelled");
const RELEASE_MS = 5000;
/**
 * An agent runs queued work, often several runs at once on a busy machine: a slow start of its runner
 * processes is better than a failed run (the interactive default is 20 s).
 */
const INIT_TIMEOUT_MS = 60_000;

/** JSON for return values JSON.stringify mishandles (bigint, typed arrays, Map, Set). */
export function jsonSafe(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value ?? null, (_k, v: unknown) => {
      if (typeof v === "bigint") return v.toString();
      if (v instanceof Map) return Object.fromEntries(v);
      if (v instanceof Set) return [...v];
      if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number>);
      return v;
    }),
  );
}

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
    try {
      const tube = await loadTubeFromSpec(op.graph, { baseDir: this.o.modulesDir ?? process.cwd(), input: tubeInputs, file: `<run ${op.run_id}>` });
      this.runner = this.o.runner === "local" ? new LocalRunner(tube) : new ZmqRunner(tube, { logLevel: (this.o.logger.level as "warn") ?? "warn", initTimeoutMs: INIT_TIMEOUT_MS });
      this.runner.on("metric", (m: NodeMetric) => this.buffer.push({ name: m.name, value: m.value, step: m.step }));
      if ((await Promise.race([this.runner.init(), this.cancelledSignal])) === CANCELLED) return;
      report.started();
      const values: unknown[] = [];
      const began = performance.now();
      let lastPct = -1;
      let lastAt = 0;
      let yielded = performance.now();
      for (let i = 0; i < epochs; i++) {
        // An in-process graph of synchronous nodes resolves its epochs in microtasks: without a turn of the
        // event loop now and then, the agent's socket, timers and a termination would wait for the whole run.
        if (performance.now() - yielded > YIELD_EVERY_MS) {
          await new Promise((r) => setImmediate(r));
          yielded = performance.now();
        }
        if (this.cancelledFlag) return;
        const asked = performance.now();
        const value = await Promise.race([this.runner.process(processInputs[i]), this.cancelledSignal]);
        if (value === CANCELLED) return;
        values.push(jsonSafe(value));
        const now = performance.now();
        const seconds = (now - began) / 1000;
        this.buffer.push(
          { name: "epochs", value: i + 1, step: i },
          { name: "epochs_per_s", value: seconds > 0 ? (i + 1) / seconds : 0, step: i },
          { name: "latency_ms", value: now - asked, step: i },
        );
        const pct = Math.floor(((i + 1) / epochs) * 100);
        // One progress report per percent at most, and not more than 10 a second.
        if (i + 1 < epochs && pct !== lastPct && Date.now() - lastAt >= 100) {
          report.progress(pct);
          lastPct = pct;
          lastAt = Date.now();
        }
      }
      // Node metrics still travelling from runner processes arrive before their runners close.
      await this.release();
      flush();
      report.completed(values);
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
}
