/**
 * The tracked run of a runner made over JSON-RPC: the runtime's per-epoch
 * figures (epochs, epochs_per_s, latency_ms: time since the epoch before) and
 * the nodes' `ctx.log` metrics, buffered and written every 250 ms and when the
 * runner is released. A run the runner was created for (`runner.init` with
 * `track`) is finished with it: COMPLETED, or CRASHED after a node's error. A
 * client's own run (`run_uuid`) only receives metrics: the client finishes it.
 */
import type { Logger } from "pino";
import type { Runner } from "../../runner/runner.ts";
import type { NewMetric, TrackStatus } from "../../store/tracking-records.ts";
import type { Tracker } from "./tracker.ts";

const FLUSH_MS = 250;

export class RunnerTracking {
  private buffer: NewMetric[] = [];
  private flushing: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;
  private epochs = 0;
  private readonly began = performance.now();
  private last = performance.now();
  private crashed = false;
  private finished = false;
  private readonly detach: () => void;

  constructor(
    private readonly tracker: Tracker,
    readonly runUuid: string,
    /** Whether this runner owns the tracked run (made for it) and so finishes it. */
    readonly owned: boolean,
    runner: Runner,
    private readonly log: Logger,
  ) {
    const onMetric = (m: { name: string; value: unknown; step: number }) => this.buffer.push({ name: m.name, value: m.value, step: m.step, timestamp: Date.now() });
    const onEpoch = (r: { epoch: number }) => {
      const now = performance.now();
      this.epochs++;
      const seconds = (now - this.began) / 1000;
      const t = Date.now();
      this.buffer.push(
        { name: "epochs", value: this.epochs, step: r.epoch, timestamp: t },
        { name: "epochs_per_s", value: seconds > 0 ? this.epochs / seconds : 0, step: r.epoch, timestamp: t },
        { name: "latency_ms", value: now - this.last, step: r.epoch, timestamp: t },
      );
      this.last = now;
    };
    const onError = () => (this.crashed = true);
    runner.on("metric", onMetric).on("epoch", onEpoch).on("error", onError);
    this.detach = () => runner.off("metric", onMetric).off("epoch", onEpoch).off("error", onError);
    this.timer = setInterval(() => void this.flush(), FLUSH_MS);
    this.timer.unref();
  }

  /** A call on the runner failed with a node's error: an owned run ends CRASHED. */
  noteCrash(): void {
    this.crashed = true;
  }

  private flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.buffer.length === 0) return;
      const batch = this.buffer;
      this.buffer = [];
      await this.tracker.store.addMetrics(this.runUuid, batch).catch((err: unknown) => this.log.warn({ run: this.runUuid, err: (err as Error).message }, "could not write a runner's metrics"));
    });
    return this.flushing;
  }

  /** After the runner is released: the last metrics, and an owned run's final status. */
  async finish(status?: TrackStatus): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    clearInterval(this.timer);
    this.detach();
    await this.flush();
    if (this.owned) await this.tracker.setStatus(this.runUuid, status ?? (this.crashed ? "CRASHED" : "COMPLETED")).catch(() => undefined);
  }
}
