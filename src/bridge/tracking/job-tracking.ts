/**
 * Every run of the job registry is tracked: one tracked run per attempt of a
 * job run, made when a worker gets it (HTTP claim or WebSocket assignment),
 * in the project named after the run's definition ("jobs" for an ad-hoc
 * run), named `<project>_<first 8 characters of the run id>` (de-duplicated
 * as any name). The metrics host agents report (the runtime's per-epoch
 * figures and the nodes' `ctx.log`) land in it; its status follows the job
 * run: COMPLETED, CRASHED when the run FAILED (a node's error, or retries
 * used up), FAILED when it was cancelled, lost to a retry or taken away.
 *
 * The state of a job run can change without passing through here (a worker
 * lost by the sweeper, a cancel, another server sharing the store), so open
 * tracked runs are also reconciled with the store every second.
 */
import type { Logger } from "pino";
import type { RunRecord } from "../../store/records.ts";
import type { Store } from "../../store/store.ts";
import type { TrackStatus } from "../../store/tracking-records.ts";
import { JobMetricsBody } from "./schemas.ts";
import { Tracker, DEFAULT_NAMESPACE } from "./tracker.ts";

export interface TrackedJob {
  namespace: string;
  /** The project's slug. */
  project: string;
  run_uuid: string;
  name: string;
}

interface Open {
  attempt: number;
  job: TrackedJob;
}

const RECONCILE_MS = 1000;
export const JOBS_PROJECT = "jobs";

export class JobTracking {
  private readonly open = new Map<string, Open>();
  /** Per job run, so a begin, its metrics and its end happen in order. */
  private readonly chains = new Map<string, Promise<unknown>>();
  private timer: NodeJS.Timeout | undefined;
  private reconciling: Promise<void> | undefined;
  /** Metric reports refused (not the expected shape); for logs and tests. */
  refused = 0;

  constructor(readonly tracker: Tracker, private readonly store: Store, private readonly log: Logger) {}

  start(): void {
    this.timer = setInterval(() => {
      this.reconciling ??= this.reconcile().finally(() => (this.reconciling = undefined));
    }, RECONCILE_MS);
    this.timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.reconciling;
    await Promise.allSettled([...this.chains.values()]);
  }

  /** The tracked run of a job run's current attempt, made when missing. */
  begin(run: RunRecord, workerId: string | null): Promise<TrackedJob> {
    return this.serial(run.id, () => this.ensure(run, workerId));
  }

  /** A metrics report (`{ metrics: [{ name, value, step }] }`) of a job run; refused and logged when malformed. */
  metrics(run: RunRecord, body: unknown): Promise<void> {
    return this.serial(run.id, () => this.logNow(run, body));
  }

  /** The job run's state changed: a finished (or taken away) attempt ends its tracked run. */
  settle(run: RunRecord): Promise<void> {
    return this.serial(run.id, () => this.settleNow(run));
  }

  /**
   * The job registry's hook, called in the order of the run's changes: a
   * claim makes the tracked run; an event with `payload.metrics` logs them;
   * any change may end it.
   */
  observe = (run: RunRecord, event?: { type: string; payload?: Record<string, unknown> | null | undefined }): void => {
    this.serial(run.id, async () => {
      if (run.state === "ASSIGNED" || run.state === "RUNNING") await this.ensure(run, run.worker_id);
      if (event?.payload && "metrics" in event.payload) await this.logNow(run, event.payload);
      await this.settleNow(run);
    }).catch((err: unknown) => this.log.error({ run: run.id, err: (err as Error).message }, "tracking of a job run failed"));
  };

  private async logNow(run: RunRecord, body: unknown): Promise<void> {
    const parsed = JobMetricsBody.safeParse(body);
    if (!parsed.success) {
      this.refused++;
      this.log.warn({ run: run.id, err: parsed.error.issues[0]?.message }, "a metrics report of a job run is malformed; dropped");
      return;
    }
    const o = this.open.get(run.id);
    // Metrics of an attempt that is no longer tracked (ended, superseded) have nowhere to go.
    const t = o && o.attempt === run.attempt ? o.job : run.state === "ASSIGNED" || run.state === "RUNNING" ? await this.ensure(run, run.worker_id) : undefined;
    if (!t) {
      this.log.info({ run: run.id, state: run.state }, "metrics of a job run that is not tracked now; dropped");
      return;
    }
    await this.tracker.log(t.run_uuid, parsed.data.metrics);
  }

  private serial<T>(runId: string, fn: () => Promise<T>): Promise<T> {
    const next = (this.chains.get(runId) ?? Promise.resolve()).then(fn, fn);
    const tail = next.catch(() => undefined);
    this.chains.set(runId, tail);
    void tail.then(() => {
      if (this.chains.get(runId) === tail) this.chains.delete(runId);
    });
    return next;
  }

  private async ensure(run: RunRecord, workerId: string | null): Promise<TrackedJob> {
    const o = this.open.get(run.id);
    if (o && o.attempt === run.attempt) return o.job;
    if (o) await this.finish(run.id, o, "FAILED");
    const project = run.definition?.name ?? JOBS_PROJECT;
    const t = await this.tracker.start({
      namespace: DEFAULT_NAMESPACE,
      project,
      name: `${project}_${run.id.slice(0, 8)}`,
      description: `job run ${run.id} (attempt ${run.attempt})${workerId ? ` on worker ${workerId}` : ""}`,
      jobRunId: run.id,
      owner: Tracker.self(),
    });
    const p = (await this.tracker.store.getProjectByUuid(t.project_uuid))!;
    const job: TrackedJob = { namespace: p.namespace, project: p.slug, run_uuid: t.uuid, name: t.name };
    this.open.set(run.id, { attempt: run.attempt, job });
    return job;
  }

  private async settleNow(run: RunRecord): Promise<void> {
    const o = this.open.get(run.id);
    if (!o) return;
    const same = o.attempt === run.attempt && (run.state === "ASSIGNED" || run.state === "RUNNING");
    if (same) return;
    const status: TrackStatus = o.attempt !== run.attempt ? "FAILED" : run.state === "COMPLETED" ? "COMPLETED" : run.state === "FAILED" ? "CRASHED" : "FAILED";
    await this.finish(run.id, o, status);
  }

  private async finish(runId: string, o: Open, status: TrackStatus): Promise<void> {
    this.open.delete(runId);
    await this.tracker.setStatus(o.job.run_uuid, status).catch((err: unknown) => this.log.warn({ run: runId, err: (err as Error).message }, "could not end a job run's tracked run"));
  }

  private async reconcile(): Promise<void> {
    for (const id of [...this.open.keys()]) {
      try {
        const run = await this.store.getRun(id);
        if (!run) {
          const o = this.open.get(id);
          if (o) await this.serial(id, () => this.finish(id, o, "FAILED"));
          continue;
        }
        await this.settle(run);
      } catch (err) {
        this.log.warn({ run: id, err: (err as Error).message }, "could not reconcile a job run's tracked run");
      }
    }
  }
}
