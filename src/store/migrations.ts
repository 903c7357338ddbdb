/**
 * The store's schema, as numbered migrations applied in order and recorded
 * in `schema_migrations`. A database newer than this code (a version we do
 * not know) is refused rather than used. New features add migrations at the
 * end; none is ever edited once released.
 *
 * Times are milliseconds since the epoch (REAL in SQLite, double precision in
 * PostgreSQL, so both read back as JS numbers); nested values are JSON text.
 */

import { TRACKING_MIGRATION } from "./tracking-migrations.ts";

export interface Migration {
  version: number;
  description: string;
  sqlite: string;
  postgres: string;
}

const TIME = { sqlite: "REAL", postgres: "DOUBLE PRECISION" };

function schemaV1(d: "sqlite" | "postgres"): string {
  const t = TIME[d];
  const serial = d === "sqlite" ? "INTEGER PRIMARY KEY AUTOINCREMENT" : "BIGSERIAL PRIMARY KEY";
  return `
CREATE TABLE definitions (
  name TEXT NOT NULL,
  version TEXT NOT NULL,
  body TEXT NOT NULL,
  created_at ${t} NOT NULL,
  PRIMARY KEY (name, version)
);
CREATE INDEX definitions_latest ON definitions (name, created_at);

CREATE TABLE runs (
  seq ${serial},
  id TEXT NOT NULL UNIQUE,
  def_name TEXT,
  def_version TEXT,
  image TEXT NOT NULL,
  graph TEXT NOT NULL,
  inputs TEXT NOT NULL,
  outputs TEXT,
  priority INTEGER NOT NULL,
  state TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL,
  worker_id TEXT,
  progress ${t} NOT NULL,
  error_message TEXT,
  constraints TEXT NOT NULL,
  event_delivery TEXT,
  created_at ${t} NOT NULL,
  updated_at ${t} NOT NULL,
  next_event_id INTEGER NOT NULL,
  webhook_url TEXT,
  webhook_cursor INTEGER NOT NULL,
  webhook_owner TEXT,
  webhook_lease_until ${t}
);
CREATE INDEX runs_queue ON runs (state, priority DESC, seq);
CREATE INDEX runs_worker ON runs (worker_id, state);
CREATE INDEX runs_webhook ON runs (webhook_url, webhook_cursor, next_event_id);

CREATE TABLE run_events (
  run_id TEXT NOT NULL,
  id INTEGER NOT NULL,
  type TEXT NOT NULL,
  t ${t} NOT NULL,
  msg TEXT NOT NULL,
  state TEXT NOT NULL,
  payload TEXT,
  client_key TEXT,
  PRIMARY KEY (run_id, id)
);
CREATE UNIQUE INDEX run_events_key ON run_events (run_id, client_key);

CREATE TABLE run_attempts (
  run_id TEXT NOT NULL,
  number INTEGER NOT NULL,
  worker_id TEXT,
  state TEXT NOT NULL,
  started_at ${t},
  ended_at ${t},
  error_message TEXT,
  PRIMARY KEY (run_id, number)
);

CREATE TABLE workers (
  worker_id TEXT PRIMARY KEY,
  resources TEXT NOT NULL,
  tags TEXT NOT NULL,
  running_ops TEXT NOT NULL,
  status TEXT NOT NULL,
  last_heartbeat ${t} NOT NULL,
  protocol TEXT NOT NULL,
  meta TEXT
);
`;
}

/**
 * Indexes an event append no longer has to update (bench/registry.bench.ts, events phase): the
 * resend-key index holds only events that carry a key (the reference client sends none), and the
 * webhook index only runs with events still to deliver, instead of every run with its
 * next_event_id, which every event moves. A loop of INFO appends on the SQLite schema alone, 32
 * per transaction: 59 -> 31 to 37 us of CPU per event. Lookups by key (`client_key = ?`) and the
 * webhook backlog (the same predicate) still use them.
 */
const LEANER_INDEXES = `
DROP INDEX run_events_key;
CREATE UNIQUE INDEX run_events_key ON run_events (run_id, client_key) WHERE client_key IS NOT NULL;
DROP INDEX runs_webhook;
CREATE INDEX runs_webhook ON runs (seq) WHERE webhook_url IS NOT NULL AND webhook_cursor < next_event_id - 1;
`;

export const MIGRATIONS: readonly Migration[] = Object.freeze([
  { version: 1, description: "job registry: definitions, runs, events, attempts, workers", sqlite: schemaV1("sqlite"), postgres: schemaV1("postgres") },
  TRACKING_MIGRATION,
  { version: 3, description: "job registry: partial indexes for resend keys and the webhook backlog", sqlite: LEANER_INDEXES, postgres: LEANER_INDEXES },
]);

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
