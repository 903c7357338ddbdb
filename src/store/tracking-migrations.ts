/**
 * The tables of run tracking and of the WebSocket worker registry: migration 2,
 * appended after the job registry's. Same conventions: times in ms since the
 * epoch (REAL / DOUBLE PRECISION), nested values as JSON text.
 */

const TIME = { sqlite: "REAL", postgres: "DOUBLE PRECISION" };

export function trackingSchema(d: "sqlite" | "postgres"): string {
  const t = TIME[d];
  const serial = d === "sqlite" ? "INTEGER PRIMARY KEY AUTOINCREMENT" : "BIGSERIAL PRIMARY KEY";
  const bool = d === "sqlite" ? "INTEGER" : "BOOLEAN";
  return `
CREATE TABLE track_projects (
  uuid TEXT PRIMARY KEY,
  namespace TEXT NOT NULL,
  slug TEXT NOT NULL,
  display_name TEXT NOT NULL,
  visibility TEXT NOT NULL,
  created_at ${t} NOT NULL,
  last_run_at ${t},
  UNIQUE (namespace, slug)
);

CREATE TABLE track_runs (
  seq ${serial},
  uuid TEXT NOT NULL UNIQUE,
  project_uuid TEXT NOT NULL REFERENCES track_projects (uuid) ON DELETE CASCADE,
  name TEXT NOT NULL,
  description TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at ${t} NOT NULL,
  updated_at ${t} NOT NULL,
  owner_host TEXT,
  owner_pid INTEGER,
  job_run_id TEXT,
  UNIQUE (project_uuid, name)
);
CREATE INDEX track_runs_status ON track_runs (status, owner_host);
CREATE INDEX track_runs_job ON track_runs (job_run_id);

CREATE TABLE track_metrics (
  seq ${serial},
  run_uuid TEXT NOT NULL REFERENCES track_runs (uuid) ON DELETE CASCADE,
  name TEXT NOT NULL,
  value TEXT NOT NULL,
  step ${t} NOT NULL,
  t ${t} NOT NULL
);
CREATE INDEX track_metrics_run ON track_metrics (run_uuid, name, step);

CREATE TABLE agent_workers (
  worker_id TEXT PRIMARY KEY,
  agent_name TEXT NOT NULL,
  namespace TEXT NOT NULL,
  version TEXT NOT NULL,
  capabilities TEXT NOT NULL,
  status TEXT NOT NULL,
  load ${t} NOT NULL,
  job_count INTEGER NOT NULL,
  load_threshold ${t} NOT NULL,
  max_processes INTEGER NOT NULL,
  connected ${bool} NOT NULL,
  registered_at ${t} NOT NULL,
  updated_at ${t} NOT NULL
);
`;
}

export const TRACKING_MIGRATION = {
  version: 2,
  description: "run tracking (projects, runs, metrics) and WebSocket workers",
  sqlite: trackingSchema("sqlite"),
  postgres: trackingSchema("postgres"),
};
