/**
 * Run tracking and WebSocket workers in the SQLite store: the TrackingStore
 * methods over one better-sqlite3 connection, each write one transaction.
 * The SqliteStore delegates to this (it owns the connection).
 */
import type Database from "better-sqlite3";
import type { AgentWorkerRecord, MetricRecord, NewMetric, NewTrackedRun, ProjectRecord, TrackedRunRecord, TrackStatus } from "./tracking-records.ts";
import { AGENT_COLUMNS, TRACK_RUN_COLUMNS, agentWorkerToRow, metricValueText, rowToAgentWorker, rowToMetric, rowToProject, rowToTrackedRun, trackedRunToRow } from "./tracking-rows.ts";
import type { TrackedRunQuery, TrackingStore } from "./tracking-store.ts";

type Row = Record<string, unknown>;

export class SqliteTracking implements TrackingStore {
  constructor(private readonly db: Database.Database) {}

  async getProject(namespace: string, slug: string): Promise<ProjectRecord | undefined> {
    const r = this.db.prepare("SELECT * FROM track_projects WHERE namespace = ? AND slug = ?").get(namespace, slug) as Row | undefined;
    return r ? rowToProject(r) : undefined;
  }

  async getProjectByUuid(uuid: string): Promise<ProjectRecord | undefined> {
    const r = this.db.prepare("SELECT * FROM track_projects WHERE uuid = ?").get(uuid) as Row | undefined;
    return r ? rowToProject(r) : undefined;
  }

  async createProject(p: ProjectRecord): Promise<ProjectRecord> {
    this.db
      .prepare("INSERT INTO track_projects (uuid, namespace, slug, display_name, visibility, created_at, last_run_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (namespace, slug) DO NOTHING")
      .run(p.uuid, p.namespace, p.slug, p.display_name, p.visibility, p.created_at, p.last_run_at);
    return (await this.getProject(p.namespace, p.slug))!;
  }

  async deleteProject(namespace: string, slug: string): Promise<boolean> {
    return this.db.prepare("DELETE FROM track_projects WHERE namespace = ? AND slug = ?").run(namespace, slug).changes > 0;
  }

  async listProjects(namespace?: string): Promise<ProjectRecord[]> {
    const rows = (namespace === undefined ? this.db.prepare("SELECT * FROM track_projects ORDER BY namespace, slug").all() : this.db.prepare("SELECT * FROM track_projects WHERE namespace = ? ORDER BY slug").all(namespace)) as Row[];
    return rows.map(rowToProject);
  }

  async createTrackedRun(run: NewTrackedRun): Promise<TrackedRunRecord> {
    const tx = this.db.transaction((): TrackedRunRecord => {
      const taken = new Set((this.db.prepare("SELECT name FROM track_runs WHERE project_uuid = ?").all(run.project_uuid) as Row[]).map((r) => String(r.name)));
      const { pickName, ...rest } = run;
      const rec: TrackedRunRecord = { ...rest, name: pickName(taken) };
      this.db.prepare(`INSERT INTO track_runs (${TRACK_RUN_COLUMNS.join(", ")}) VALUES (${TRACK_RUN_COLUMNS.map(() => "?").join(", ")})`).run(...trackedRunToRow(rec));
      this.db.prepare("UPDATE track_projects SET last_run_at = ? WHERE uuid = ?").run(rec.created_at, rec.project_uuid);
      return rec;
    });
    return tx.immediate();
  }

  async getTrackedRun(uuid: string): Promise<TrackedRunRecord | undefined> {
    const r = this.db.prepare("SELECT * FROM track_runs WHERE uuid = ?").get(uuid) as Row | undefined;
    return r ? rowToTrackedRun(r) : undefined;
  }

  async listTrackedRuns(q: TrackedRunQuery = {}): Promise<TrackedRunRecord[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.projectUuid !== undefined) (where.push("project_uuid = ?"), args.push(q.projectUuid));
    if (q.name !== undefined) (where.push("name = ?"), args.push(q.name));
    if (q.jobRunId !== undefined) (where.push("job_run_id = ?"), args.push(q.jobRunId));
    const sql = `SELECT * FROM track_runs ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...args, q.limit ?? 100) as Row[]).map(rowToTrackedRun);
  }

  async updateTrackedRun(uuid: string, patch: { status?: TrackStatus | undefined; description?: string | undefined }, now: number): Promise<TrackedRunRecord | undefined> {
    const r = this.db
      .prepare("UPDATE track_runs SET status = COALESCE(?, status), description = COALESCE(?, description), updated_at = ? WHERE uuid = ?")
      .run(patch.status ?? null, patch.description ?? null, now, uuid);
    return r.changes ? this.getTrackedRun(uuid) : undefined;
  }

  async failOrphanedRuns(host: string, alive: (pid: number) => boolean, now: number): Promise<TrackedRunRecord[]> {
    const rows = (this.db.prepare("SELECT * FROM track_runs WHERE status = 'RUNNING' AND owner_host = ? AND owner_pid IS NOT NULL").all(host) as Row[]).map(rowToTrackedRun);
    const out: TrackedRunRecord[] = [];
    for (const r of rows) {
      if (alive(r.owner_pid!)) continue;
      const changed = this.db.prepare("UPDATE track_runs SET status = 'FAILED', updated_at = ? WHERE uuid = ? AND status = 'RUNNING'").run(now, r.uuid).changes;
      if (changed) out.push({ ...r, status: "FAILED", updated_at: now });
    }
    return out;
  }

  async addMetrics(runUuid: string, metrics: NewMetric[]): Promise<boolean> {
    const tx = this.db.transaction((): boolean => {
      if (!this.db.prepare("SELECT 1 FROM track_runs WHERE uuid = ?").get(runUuid)) return false;
      const count = this.db.prepare("SELECT COUNT(*) AS n FROM track_metrics WHERE run_uuid = ? AND name = ?");
      const insert = this.db.prepare("INSERT INTO track_metrics (run_uuid, name, value, step, t) VALUES (?, ?, ?, ?, ?)");
      for (const m of metrics) {
        const step = m.step ?? Number((count.get(runUuid, m.name) as Row).n);
        insert.run(runUuid, m.name, metricValueText(m.value), step, m.timestamp);
      }
      return true;
    });
    return tx.immediate();
  }

  async listMetrics(runUuid: string, skip = 0): Promise<MetricRecord[]> {
    return (this.db.prepare("SELECT * FROM track_metrics WHERE run_uuid = ? ORDER BY seq LIMIT -1 OFFSET ?").all(runUuid, skip) as Row[]).map(rowToMetric);
  }

  async putAgentWorker(w: AgentWorkerRecord): Promise<AgentWorkerRecord> {
    const cols = AGENT_COLUMNS.join(", ");
    const sets = AGENT_COLUMNS.filter((c) => c !== "worker_id" && c !== "registered_at").map((c) => `${c} = excluded.${c}`).join(", ");
    this.db.prepare(`INSERT INTO agent_workers (${cols}) VALUES (${AGENT_COLUMNS.map(() => "?").join(", ")}) ON CONFLICT (worker_id) DO UPDATE SET ${sets}`).run(...agentWorkerToRow(w, true));
    return (await this.getAgentWorker(w.worker_id))!;
  }

  async getAgentWorker(workerId: string): Promise<AgentWorkerRecord | undefined> {
    const r = this.db.prepare("SELECT * FROM agent_workers WHERE worker_id = ?").get(workerId) as Row | undefined;
    return r ? rowToAgentWorker(r) : undefined;
  }

  async listAgentWorkers(): Promise<AgentWorkerRecord[]> {
    return (this.db.prepare("SELECT * FROM agent_workers ORDER BY worker_id").all() as Row[]).map(rowToAgentWorker);
  }
}
