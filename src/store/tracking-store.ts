/**
 * What run tracking and the WebSocket worker registry add to the store. Both
 * stores (SQLite, PostgreSQL) implement it over the tables of migrations 2+.
 */
import type { AgentWorkerRecord, MetricRecord, NewMetric, NewTrackedRun, ProjectRecord, TrackedRunRecord, TrackStatus } from "./tracking-records.ts";

export interface TrackedRunQuery {
  projectUuid?: string;
  name?: string;
  jobRunId?: string;
  /** Newest first; default 100. */
  limit?: number;
}

export interface TrackingStore {
  getProject(namespace: string, slug: string): Promise<ProjectRecord | undefined>;
  getProjectByUuid(uuid: string): Promise<ProjectRecord | undefined>;
  /** Inserts the project, or returns the one already there with that namespace and slug. */
  createProject(p: ProjectRecord): Promise<ProjectRecord>;
  /** Deletes the project with its runs and their metrics; false when there was none. */
  deleteProject(namespace: string, slug: string): Promise<boolean>;
  listProjects(namespace?: string): Promise<ProjectRecord[]>;

  /** Inserts a run under a name unique in its project (chosen by `pickName` inside the transaction). */
  createTrackedRun(run: NewTrackedRun): Promise<TrackedRunRecord>;
  getTrackedRun(uuid: string): Promise<TrackedRunRecord | undefined>;
  listTrackedRuns(q?: TrackedRunQuery): Promise<TrackedRunRecord[]>;
  /** Sets the status (and description when given); undefined when there is no such run. */
  updateTrackedRun(uuid: string, patch: { status?: TrackStatus | undefined; description?: string | undefined }, now: number): Promise<TrackedRunRecord | undefined>;
  /**
   * Runs still RUNNING that were started on `host` by a process `alive` says
   * is gone become FAILED (left unfinished). Returns them.
   */
  failOrphanedRuns(host: string, alive: (pid: number) => boolean, now: number): Promise<TrackedRunRecord[]>;
  /** Appends metrics to a run (steps filled in as NewMetric says); false when there is no such run. */
  addMetrics(runUuid: string, metrics: NewMetric[]): Promise<boolean>;
  /** A run's metrics in the order they were logged; `skip`: leave out the first that many (a reader that has them already). */
  listMetrics(runUuid: string, skip?: number): Promise<MetricRecord[]>;

  putAgentWorker(w: AgentWorkerRecord): Promise<AgentWorkerRecord>;
  getAgentWorker(workerId: string): Promise<AgentWorkerRecord | undefined>;
  listAgentWorkers(): Promise<AgentWorkerRecord[]>;
}
