/**
 * `tubular run --track`: the run's record in the store, with the runtime's
 * own per-epoch figures (epochs, epochs_per_s, latency_ms) and the nodes'
 * `ctx.log` metrics. Metrics are buffered and written every quarter second
 * (and at the end), so the store is not on the epoch loop's path.
 */
import path from "node:path";
import { DEFAULT_NAMESPACE, Tracker } from "../bridge/tracking/index.ts";
import type { Runner } from "../runner/runner.ts";
import { openStore } from "../store/open.ts";
import type { Store } from "../store/store.ts";
import type { NewMetric, TrackedRunRecord, TrackStatus } from "../store/tracking-records.ts";

const FLUSH_MS = 250;

export class CliRunTracking {
  private buffer: NewMetric[] = [];
  private flushing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout;
  private epochs = 0;
  private readonly started = performance.now();

  private constructor(readonly store: Store, private readonly tracker: Tracker, readonly run: TrackedRunRecord, readonly project: string) {
    this.timer = setInterval(() => void this.flush(), FLUSH_MS);
    this.timer.unref();
  }

  /** The nodes' `ctx.log` metrics of this runner (in this process or its runner processes) join the run. */
  listen(runner: Runner): void {
    runner.on("metric", (m) => this.buffer.push({ name: m.name, value: m.value, step: m.step, timestamp: Date.now() }));
  }

  /** Opens the store, marks runs this host's dead processes left RUNNING as FAILED, and starts the run. */
  static async open(o: { db: string; project: string | true; name?: string | undefined; namespace?: string | undefined; file: string; tubeId: string | undefined }): Promise<CliRunTracking> {
    const store = await openStore(o.db);
    try {
      const tracker = new Tracker(store.tracking);
      await tracker.failOrphans();
      const project = o.project === true ? (o.tubeId ?? path.basename(o.file).replace(/\.(ya?ml|json)$/i, "")) : o.project;
      const run = await tracker.start({ namespace: o.namespace ?? DEFAULT_NAMESPACE, project, name: o.name, description: `tubular run ${o.file}`, owner: Tracker.self() });
      return new CliRunTracking(store, tracker, run, project);
    } catch (err) {
      await store.close();
      throw err;
    }
  }

  /** One epoch done, `latencyMs` after it was asked for (or after the one before, in free-run). */
  epoch(epoch: number, latencyMs: number): void {
    this.epochs++;
    const seconds = (performance.now() - this.started) / 1000;
    const t = Date.now();
    this.buffer.push(
      { name: "epochs", value: this.epochs, step: epoch, timestamp: t },
      { name: "epochs_per_s", value: seconds > 0 ? this.epochs / seconds : 0, step: epoch, timestamp: t },
      { name: "latency_ms", value: latencyMs, step: epoch, timestamp: t },
    );
  }

  private flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.buffer.length === 0) return;
      const batch = this.buffer;
      this.buffer = [];
      await this.tracker.store.addMetrics(this.run.uuid, batch);
    });
    return this.flushing;
  }

  /** Writes what is buffered, sets the final status, closes the store. */
  async finish(status: TrackStatus): Promise<void> {
    clearInterval(this.timer);
    try {
      await this.flush();
      await this.tracker.setStatus(this.run.uuid, status);
    } finally {
      await this.store.close();
    }
  }
}
