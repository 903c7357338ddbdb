/**
 * Run tracking and WebSocket workers in the PostgreSQL store. A run's name is
 * chosen under a lock on its project's row, so two servers creating runs in
 * one project at once never pick the same name; metrics of one run are
 * appended under a lock on the run's row, so auto-computed steps do not
 * collide. The PostgresStore delegates to this (it owns the pool).
 */
import type pg from "pg";
import type { AgentWorkerRecord, MetricRecord, NewMetric, NewTrackedRun, ProjectRecord, TrackedRunRecord, TrackStatus } from "./tracking-records.ts";
import { AGENT_COLUMNS, TRACK_RUN_COLUMNS, agentWorkerToRow, metricValueText, rowToAgentWorker, rowToMetric, rowToProject, rowToTrackedRun, trackedRunToRow } from "./tracking-rows.ts";
import type { TrackedRunQuery, TrackingStore } from "./tracking-store.ts";
import { transaction } from "./pg-transaction.ts";

type Row = Record<string, unknown>;
const ph = (n: number, from = 1) => Array.from({ length: n }, (_, i) => `$${i + from}`).join(", ");

export class PostgresTracking implements TrackingStore {
  constructor(private readonly pool: pg.Pool) {}

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return transaction(this.pool, fn);
  }

  private async one(sql: string, args: unknown[]): Promise<Row | undefined> {
    return (await this.pool.query(sql, args)).rows[0] as Row | undefined;
  }

  async getProject(namespace: string, slug: string): Promise<ProjectRecord | undefined> {
    const r = await this.one("SELECT * FROM track_projects WHERE namespace = $1 AND slug = $2", [namespace, slug]);
    return r ? rowToProject(r) : undefined;
  }

  async getProjectByUuid(uuid: string): Promise<ProjectRecord | undefined> {
    const r = await this.one("SELECT * FROM track_projects WHERE uuid = $1", [uuid]);
    return r ? rowToProject(r) : undefined;
  }

  async createProject(p: ProjectRecord): Promise<ProjectRecord> {
    await this.pool.query(
      "INSERT INTO track_projects (uuid, namespace, slug, display_name, visibility, created_at, last_run_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (namespace, slug) DO NOTHING",
      [p.uuid, p.namespace, p.slug, p.display_name, p.visibility, p.created_at, p.last_run_at],
    );
    return (await this.getProject(p.namespace, p.slug))!;
  }

  async deleteProject(namespace: string, slug: string): Promise<boolean> {
    return ((await this.pool.query("DELETE FROM track_projects WHERE namespace = $1 AND slug = $2", [namespace, slug])).rowCount ?? 0) > 0;
  }

  async listProjects(namespace?: string): Promise<ProjectRecord[]> {
    const r = namespace === undefined ? await this.pool.query("SELECT * FROM track_projects ORDER BY namespace, slug") : await this.pool.query("SELECT * FROM track_projects WHERE namespace = $1 ORDER BY slug", [namespace]);
    return (r.rows as Row[]).map(rowToProject);
  }

  async createTrackedRun(run: NewTrackedRun): Promise<TrackedRunRecord> {
    return this.tx(async (c) => {
      await c.query("SELECT 1 FROM track_projects WHERE uuid = $1 FOR UPDATE", [run.project_uuid]);
      const taken = new Set(((await c.query("SELECT name FROM track_runs WHERE project_uuid = $1", [run.project_uuid])).rows as Row[]).map((r) => String(r.name)));
      const { pickName, ...rest } = run;
      const rec: TrackedRunRecord = { ...rest, name: pickName(taken) };
      await c.query(`INSERT INTO track_runs (${TRACK_RUN_COLUMNS.join(", ")}) VALUES (${ph(TRACK_RUN_COLUMNS.length)})`, trackedRunToRow(rec));
      await c.query("UPDATE track_projects SET last_run_at = $1 WHERE uuid = $2", [rec.created_at, rec.project_uuid]);
      return rec;
    });
  }

  async getTrackedRun(uuid: string): Promise<TrackedRunRecord | undefined> {
    const r = await this.one("SELECT * FROM track_runs WHERE uuid = $1", [uuid]);
    return r ? rowToTrackedRun(r) : undefined;
  }

  async listTrackedRuns(q: TrackedRunQuery = {}): Promise<TrackedRunRecord[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    const add = (sql: string, v: unknown) => (args.push(v), where.push(sql.replace("?", `$${args.length}`)));
    if (q.projectUuid !== undefined) add("project_uuid = ?", q.projectUuid);
    if (q.name !== undefined) add("name = ?", q.name);
    if (q.jobRunId !== undefined) add("job_run_id = ?", q.jobRunId);
    args.push(q.limit ?? 100);
    const r = await this.pool.query(`SELECT * FROM track_runs ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq DESC LIMIT $${args.length}`, args);
    return (r.rows as Row[]).map(rowToTrackedRun);
  }

  async updateTrackedRun(uuid: string, patch: { status?: TrackStatus | undefined; description?: string | undefined }, now: number): Promise<TrackedRunRecord | undefined> {
    const r = await this.one("UPDATE track_runs SET status = COALESCE($1, status), description = COALESCE($2, description), updated_at = $3 WHERE uuid = $4 RETURNING *", [patch.status ?? null, patch.description ?? null, now, uuid]);
    return r ? rowToTrackedRun(r) : undefined;
  }

  async failOrphanedRuns(host: string, alive: (pid: number) => boolean, now: number): Promise<TrackedRunRecord[]> {
    const rows = ((await this.pool.query("SELECT * FROM track_runs WHERE status = 'RUNNING' AND owner_host = $1 AND owner_pid IS NOT NULL", [host])).rows as Row[]).map(rowToTrackedRun);
    const out: TrackedRunRecord[] = [];
    for (const r of rows) {
      if (alive(r.owner_pid!)) continue;
      const u = await this.one("UPDATE track_runs SET status = 'FAILED', updated_at = $1 WHERE uuid = $2 AND status = 'RUNNING' RETURNING *", [now, r.uuid]);
      if (u) out.push(rowToTrackedRun(u));
    }
    return out;
  }

  async addMetrics(runUuid: string, metrics: NewMetric[]): Promise<boolean> {
    return this.tx(async (c) => {
      if ((await c.query("SELECT 1 FROM track_runs WHERE uuid = $1 FOR UPDATE", [runUuid])).rowCount === 0) return false;
      for (const m of metrics) {
        const step = m.step ?? Number(((await c.query("SELECT COUNT(*) AS n FROM track_metrics WHERE run_uuid = $1 AND name = $2", [runUuid, m.name])).rows[0] as Row).n);
        await c.query("INSERT INTO track_metrics (run_uuid, name, value, step, t) VALUES ($1, $2, $3, $4, $5)", [runUuid, m.name, metricValueText(m.value), step, m.timestamp]);
      }
      return true;
    });
  }

  async listMetrics(runUuid: string, skip = 0): Promise<MetricRecord[]> {
    return ((await this.pool.query("SELECT * FROM track_metrics WHERE run_uuid = $1 ORDER BY seq OFFSET $2", [runUuid, skip])).rows as Row[]).map(rowToMetric);
  }

  async putAgentWorker(w: AgentWorkerRecord): Promise<AgentWorkerRecord> {
    const sets = AGENT_COLUMNS.filter((c) => c !== "worker_id" && c !== "registered_at").map((c) => `${c} = excluded.${c}`).join(", ");
    const r = await this.one(`INSERT INTO agent_workers (${AGENT_COLUMNS.join(", ")}) VALUES (${ph(AGENT_COLUMNS.length)}) ON CONFLICT (worker_id) DO UPDATE SET ${sets} RETURNING *`, agentWorkerToRow(w, false));
    return rowToAgentWorker(r!);
  }

  async getAgentWorker(workerId: string): Promise<AgentWorkerRecord | undefined> {
    const r = await this.one("SELECT * FROM agent_workers WHERE worker_id = $1", [workerId]);
    return r ? rowToAgentWorker(r) : undefined;
  }

  async listAgentWorkers(): Promise<AgentWorkerRecord[]> {
    return ((await this.pool.query("SELECT * FROM agent_workers ORDER BY worker_id")).rows as Row[]).map(rowToAgentWorker);
  }
}
