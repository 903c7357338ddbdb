/**
 * Run tracking's part of the dashboard: the newest tracked runs (project,
 * name, status) and the metrics of the runs viewers chose to plot, pushed as
 * they are logged. Read from the tracking store only while someone watches,
 * at the feed's pace; a chosen run's metrics are read again only while it is
 * RUNNING or when its status moved (a run that ended logs nothing more), and
 * only the points not sent yet go out.
 */
import type { Logger } from "pino";
import type { MetricRecord, ProjectRecord, TrackedRunRecord } from "../../store/tracking-records.ts";
import type { MetricPoint, ServerMessage, TrackedRunView } from "./messages.ts";

/** What the dashboard reads of the tracking store (the TrackingStore interface has it). */
export interface TrackingSource {
  listTrackedRuns(q?: { limit?: number }): Promise<TrackedRunRecord[]>;
  listProjects(): Promise<ProjectRecord[]>;
  /** In the order logged, after the first `skip`. */
  listMetrics(runUuid: string, skip?: number): Promise<MetricRecord[]>;
}

/** A viewer as the tracking part sees it: the runs it plots, and those it chose since the last sample (sent whole). */
export interface MetricsViewer {
  readonly chosen: ReadonlySet<string>;
  readonly newly: Set<string>;
  send(text: string): void;
}

const RUNS_SHOWN = 50;
/** Points kept (and sent) per run: the most recent ones. */
const POINTS_KEPT = 50_000;

export class TrackingFeed {
  private runsText = "";
  private readonly projects = new Map<string, string>();
  /** Per chosen run: metric rows read so far, numeric points kept, and the status at that read. */
  private readonly kept = new Map<string, { rows: number; points: MetricPoint[]; status: string }>();
  private busy = false;

  constructor(
    private readonly source: TrackingSource,
    private readonly log: Logger | undefined,
  ) {}

  /** `broadcast`: to viewers already up to date; `fresh`: everything. False when a read was under way (nothing done). */
  async sample(broadcast: (text: string) => void, fresh: ReadonlyArray<(text: string) => void>, viewers: readonly MetricsViewer[]): Promise<boolean> {
    if (this.busy) return false;
    this.busy = true;
    try {
      const runs = await this.source.listTrackedRuns({ limit: RUNS_SHOWN });
      if (runs.some((r) => !this.projects.has(r.project_uuid))) for (const p of await this.source.listProjects()) this.projects.set(p.uuid, p.display_name);
      const views: TrackedRunView[] = runs.map((r) => ({ id: r.uuid, project: this.projects.get(r.project_uuid) ?? "?", name: r.name, status: r.status, createdAt: r.created_at, updatedAt: r.updated_at }));
      const text = JSON.stringify({ type: "tracked", runs: views } satisfies ServerMessage);
      if (text !== this.runsText) broadcast(text);
      this.runsText = text;
      for (const f of fresh) f(text);

      const wanted = new Set(viewers.flatMap((v) => [...v.chosen]));
      for (const id of this.kept.keys()) if (!wanted.has(id)) this.kept.delete(id);
      const byId = new Map(runs.map((r) => [r.uuid, r]));
      for (const id of wanted) {
        const run = byId.get(id);
        if (!run) continue;
        let k = this.kept.get(id);
        const stale = !k || run.status === "RUNNING" || k.status !== run.status;
        let added: MetricPoint[] = [];
        if (stale) {
          if (!k) this.kept.set(id, (k = { rows: 0, points: [], status: run.status }));
          // Only the rows logged since the last read (metrics are only ever appended).
          const rows = await this.source.listMetrics(id, k.rows);
          added = thin(points(rows));
          k.rows += rows.length;
          k.status = run.status;
          k.points.push(...added);
          if (k.points.length > POINTS_KEPT) k.points.splice(0, k.points.length - POINTS_KEPT);
        }
        // Made only for a viewer that just chose the run: up to 50,000 points are not serialized every second.
        let whole: string | undefined;
        const wholeText = () => (whole ??= JSON.stringify({ type: "metrics", runId: id, reset: true, points: k!.points } satisfies ServerMessage));
        const more = added.length > 0 ? JSON.stringify({ type: "metrics", runId: id, reset: false, points: added } satisfies ServerMessage) : undefined;
        for (const v of viewers) {
          if (!v.chosen.has(id)) continue;
          if (v.newly.has(id)) v.send(wholeText());
          else if (more) v.send(more);
        }
      }
      for (const v of viewers) v.newly.clear();
      return true;
    } catch (err) {
      this.log?.warn({ err }, "dashboard: reading run tracking failed");
      return true;
    } finally {
      this.busy = false;
    }
  }
}

/** New points sent per metric and sample at most: a free-run logging every epoch is shown by evenly spaced points, the last one always. */
const MAX_NEW_PER_METRIC = 1000;

function thin(all: MetricPoint[]): MetricPoint[] {
  const byName = new Map<string, MetricPoint[]>();
  for (const p of all) {
    const list = byName.get(p.name);
    if (list) list.push(p);
    else byName.set(p.name, [p]);
  }
  if ([...byName.values()].every((l) => l.length <= MAX_NEW_PER_METRIC)) return all;
  const out: MetricPoint[] = [];
  for (const list of byName.values()) {
    if (list.length <= MAX_NEW_PER_METRIC) out.push(...list);
    else for (let i = 1; i <= MAX_NEW_PER_METRIC; i++) out.push(list[Math.round((i * list.length) / MAX_NEW_PER_METRIC) - 1]!);
  }
  return out;
}

/** The metrics a chart can plot: numbers (and numeric text) at their step. */
function points(rows: readonly MetricRecord[]): MetricPoint[] {
  const out: MetricPoint[] = [];
  for (const r of rows) {
    const v = typeof r.value === "number" ? r.value : typeof r.value === "string" && r.value.trim() !== "" ? Number(r.value) : typeof r.value === "boolean" ? Number(r.value) : NaN;
    if (Number.isFinite(v)) out.push({ name: r.name, step: r.step, value: v });
  }
  return out;
}
