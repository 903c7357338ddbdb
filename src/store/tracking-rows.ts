/** Rows of the tracking tables to records and back, shared by both stores. */
import type { AgentWorkerRecord, MetricRecord, ProjectRecord, TrackedRunRecord, TrackStatus } from "./tracking-records.ts";

type Row = Record<string, unknown>;
const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export function rowToProject(r: Row): ProjectRecord {
  return {
    uuid: String(r.uuid),
    namespace: String(r.namespace),
    slug: String(r.slug),
    display_name: String(r.display_name),
    visibility: String(r.visibility),
    created_at: num(r.created_at),
    last_run_at: numOrNull(r.last_run_at),
  };
}

export function rowToTrackedRun(r: Row): TrackedRunRecord {
  return {
    uuid: String(r.uuid),
    project_uuid: String(r.project_uuid),
    name: String(r.name),
    description: String(r.description),
    status: String(r.status) as TrackStatus,
    created_at: num(r.created_at),
    updated_at: num(r.updated_at),
    owner_host: r.owner_host === null || r.owner_host === undefined ? null : String(r.owner_host),
    owner_pid: numOrNull(r.owner_pid),
    job_run_id: r.job_run_id === null || r.job_run_id === undefined ? null : String(r.job_run_id),
  };
}

export function rowToMetric(r: Row): MetricRecord {
  return { run_uuid: String(r.run_uuid), name: String(r.name), value: JSON.parse(String(r.value)), step: num(r.step), timestamp: num(r.t) };
}

export function rowToAgentWorker(r: Row): AgentWorkerRecord {
  return {
    worker_id: String(r.worker_id),
    agent_name: String(r.agent_name),
    namespace: String(r.namespace),
    version: String(r.version),
    capabilities: JSON.parse(String(r.capabilities)) as string[],
    status: String(r.status),
    load: num(r.load),
    job_count: num(r.job_count),
    load_threshold: num(r.load_threshold),
    max_processes: num(r.max_processes),
    connected: r.connected === true || r.connected === 1,
    registered_at: num(r.registered_at),
    updated_at: num(r.updated_at),
  };
}

export const AGENT_COLUMNS = ["worker_id", "agent_name", "namespace", "version", "capabilities", "status", "load", "job_count", "load_threshold", "max_processes", "connected", "registered_at", "updated_at"] as const;

export function agentWorkerToRow(w: AgentWorkerRecord, boolAsInt: boolean): unknown[] {
  return [w.worker_id, w.agent_name, w.namespace, w.version, JSON.stringify(w.capabilities), w.status, w.load, w.job_count, w.load_threshold, w.max_processes, boolAsInt ? (w.connected ? 1 : 0) : w.connected, w.registered_at, w.updated_at];
}

export const TRACK_RUN_COLUMNS = ["uuid", "project_uuid", "name", "description", "status", "created_at", "updated_at", "owner_host", "owner_pid", "job_run_id"] as const;

export function trackedRunToRow(r: TrackedRunRecord): unknown[] {
  return [r.uuid, r.project_uuid, r.name, r.description, r.status, r.created_at, r.updated_at, r.owner_host, r.owner_pid, r.job_run_id];
}

/** JSON text of a metric's value; a value JSON cannot hold (undefined, a function) is refused by the caller before this. */
export function metricValueText(v: unknown): string {
  return JSON.stringify(v ?? null);
}
