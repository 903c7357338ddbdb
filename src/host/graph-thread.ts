/**
 * In-process runs (`--runner local`) off the agent's thread. A graph of
 * synchronous nodes holds the thread it runs on for as long as it computes;
 * on the agent's own thread that held its heartbeats (a worker silent for
 * `--worker-timeout` is declared lost and its runs are handed out again while
 * they still run here) and its cancels (a cancel waited for the graph). So
 * each run slot has a thread of its own: the agent's loop stays free, and a
 * cancel ends the thread, however busy its nodes are.
 *
 * Threads are started with the agent and kept between runs: loading a
 * thread's modules took 0.4 s from the build (0.8 s from source), a trivial
 * run on a loaded thread about 1.5 ms, both measured at a load average of 14.
 */
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type { ClaimedRun } from "./graph-run.ts";

export type ToGraphThread = {
  kind: "run";
  op: ClaimedRun;
  modulesDir: string;
  tubeInputs: Record<string, unknown>;
  epochs: number;
  processInputs: Array<Record<string, unknown> | undefined>;
};

export type FromGraphThread =
  | { kind: "ready" }
  | { kind: "started" }
  | { kind: "epoch"; value: unknown; ms: number }
  | { kind: "metric"; name: string; value: unknown; step: number }
  | { kind: "done" }
  | { kind: "failed"; message: string };

/** What a run in a thread tells its caller, as it happens. */
export interface GraphThreadSink {
  started(): void;
  epoch(value: unknown, latencyMs: number): void;
  metric(name: string, value: unknown, step: number): void;
}

const HERE = fileURLToPath(import.meta.url);

/** The thread's script: the compiled worker next to this file, or from source through tsx's loader. */
function startWorker(): Worker {
  const script = path.join(path.dirname(HERE), `graph-thread-worker${path.extname(HERE)}`);
  if (script.endsWith(".js")) return new Worker(script, { stdout: false, stderr: false });
  // tsx's ESM entry (its CommonJS one does not resolve its own ESM half from a worker).
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx/esm/api").replace(/\.cjs$/, ".mjs")).href;
  const code = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(pathToFileURL(script).href)}); });`;
  return new Worker(code, { eval: true, stdout: false, stderr: false });
}

/** One thread that runs one graph at a time. */
class GraphThread {
  private readonly worker = startWorker();
  /** The run in progress: its sink and how it ends. */
  private current: { sink: GraphThreadSink; resolve: () => void; reject: (err: Error) => void } | undefined;
  private ended: Error | undefined;
  private terminating = false;
  /** Resolves once the thread has loaded its modules (or ended). */
  readonly ready: Promise<void>;
  private onReady: () => void = () => undefined;

  constructor() {
    this.worker.unref();
    this.ready = new Promise((resolve) => (this.onReady = resolve));
    this.worker.on("message", (msg: FromGraphThread) => this.onMessage(msg));
    this.worker.on("error", (err) => {
      this.ended = err;
    });
    this.worker.on("exit", (code) => {
      this.ended ??= new Error(this.terminating ? "the run's thread was ended" : `the run's thread exited with code ${code}`);
      this.current?.reject(this.ended);
      this.current = undefined;
      this.onReady();
    });
  }

  get usable(): boolean {
    return this.ended === undefined && !this.terminating && this.current === undefined;
  }

  run(job: ToGraphThread, sink: GraphThreadSink): Promise<void> {
    if (this.ended) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => {
      this.current = { sink, resolve, reject };
      this.worker.postMessage(job);
    });
  }

  private onMessage(msg: FromGraphThread): void {
    if (msg.kind === "ready") return this.onReady();
    const current = this.current;
    if (!current) return;
    switch (msg.kind) {
      case "started":
        current.sink.started();
        return;
      case "epoch":
        current.sink.epoch(msg.value, msg.ms);
        return;
      case "metric":
        current.sink.metric(msg.name, msg.value, msg.step);
        return;
      case "done":
        this.current = undefined;
        current.resolve();
        return;
      case "failed":
        this.current = undefined;
        current.reject(new Error(msg.message));
        return;
    }
  }

  async terminate(): Promise<void> {
    this.terminating = true;
    await this.worker.terminate();
  }
}

/** The agent's run threads: one per run in progress, kept for the next run. */
export class GraphThreads {
  private readonly idle: GraphThread[] = [];
  private readonly busy = new Set<GraphThread>();
  private closed = false;

  /** Starts `n` threads ahead of the first runs, so a run does not wait for one to load. */
  async warm(n: number): Promise<void> {
    const fresh = Array.from({ length: Math.max(0, n - this.idle.length - this.busy.size) }, () => new GraphThread());
    this.idle.push(...fresh);
    await Promise.all(fresh.map((t) => t.ready));
  }

  /**
   * Runs one graph on a thread of its own. `cancelled` ends the thread (and the
   * run, which then rejects); a thread whose run ended normally is kept.
   */
  async run(job: ToGraphThread, sink: GraphThreadSink, cancelled: Promise<unknown>): Promise<void> {
    if (this.closed) throw new Error("the agent is closing");
    let thread = this.idle.pop();
    while (thread && !thread.usable) thread = this.idle.pop();
    thread ??= new GraphThread();
    this.busy.add(thread);
    let finished = false;
    // A cancel after the run ended must not end the thread: it may be running the next one by then.
    void cancelled.then(() => {
      if (!finished) void thread.terminate();
    });
    try {
      await thread.run(job, sink);
    } finally {
      finished = true;
      this.busy.delete(thread);
      if (thread.usable && !this.closed) this.idle.push(thread);
      else void thread.terminate();
    }
  }

  /** Ends every thread, busy or idle. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.idle, ...this.busy];
    this.idle.length = 0;
    this.busy.clear();
    await Promise.all(all.map((t) => t.terminate()));
  }
}
