/**
 * What run tracking keeps: projects in namespaces, runs with a status, and
 * their metrics, one record type each. Times are milliseconds since the epoch
 * in the store; the REST layer turns them into ISO 8601 with a `Z`.
 */

export const TRACK_STATUSES = ["RUNNING", "COMPLETED", "CRASHED", "FAILED"] as const;
export type TrackStatus = (typeof TRACK_STATUSES)[number];

export interface ProjectRecord {
  uuid: string;
  namespace: string;
  slug: string;
  display_name: string;
  visibility: string;
  created_at: number;
  last_run_at: number | null;
}

export interface TrackedRunRecord {
  uuid: string;
  project_uuid: string;
  name: string;
  description: string;
  status: TrackStatus;
  created_at: number;
  updated_at: number;
  /** Who runs it, so a run left RUNNING by a dead process can be marked FAILED: host name and pid; null for a REST client's run. */
  owner_host: string | null;
  owner_pid: number | null;
  /** The job registry's run it tracks, if any. */
  job_run_id: string | null;
}

export interface MetricRecord {
  run_uuid: string;
  name: string;
  /** Any JSON value; plotted when it is a number. */
  value: unknown;
  step: number;
  timestamp: number;
}

/** A worker of the WebSocket worker registry, as last registered and reported. */
export interface AgentWorkerRecord {
  worker_id: string;
  agent_name: string;
  namespace: string;
  version: string;
  capabilities: string[];
  /** The worker's own word (idle, busy, available, draining, error), or offline once its socket closed. */
  status: string;
  load: number;
  job_count: number;
  load_threshold: number;
  max_processes: number;
  connected: boolean;
  registered_at: number;
  updated_at: number;
}

/** A run to create: the store picks its name, inside its transaction, from the names already taken in the project. */
export interface NewTrackedRun extends Omit<TrackedRunRecord, "name"> {
  pickName: (taken: ReadonlySet<string>) => string;
}

/** A metric to log; a missing step is the number of values already logged under that name (0, 1, 2, ...). */
export interface NewMetric {
  name: string;
  value: unknown;
  step?: number | undefined;
  timestamp: number;
}
