/**
 * Records to table rows and back, shared by both stores so they read and
 * write the same columns the same way.
 */
import type { AttemptRecord, DefinitionRecord, EventRecord, RunRecord, RunState, WorkerRecord } from "./records.ts";
import { fromJson, toJson } from "./store.ts";

type Row = Record<string, unknown>;

export const RUN_COLUMNS = [
  "id", "def_name", "def_version", "image", "graph", "inputs", "outputs", "priority", "state", "attempt", "max_attempts",
  "worker_id", "progress", "error_message", "constraints", "event_delivery", "created_at", "updated_at", "next_event_id",
  "webhook_url", "webhook_cursor",
] as const;

export function runToRow(r: RunRecord): unknown[] {
  return [
    r.id, r.definition?.name ?? null, r.definition?.version ?? null, r.image, toJson(r.graph), toJson(r.inputs), toJson(r.outputs),
    r.priority, r.state, r.attempt, r.max_attempts, r.worker_id, r.progress, r.error_message, toJson(r.constraints),
    toJson(r.event_delivery), r.created_at, r.updated_at, r.next_event_id, r.webhook_url, r.webhook_cursor,
  ];
}

export function rowToRun(row: Row): RunRecord {
  return {
    id: String(row.id),
    definition: row.def_name === null || row.def_name === undefined ? null : { name: String(row.def_name), version: String(row.def_version) },
    image: String(row.image),
    graph: fromJson(row.graph, {}),
    inputs: fromJson(row.inputs, {}),
    outputs: fromJson(row.outputs, null),
    priority: Number(row.priority),
    state: row.state as RunState,
    attempt: Number(row.attempt),
    max_attempts: Number(row.max_attempts),
    worker_id: (row.worker_id as string | null) ?? null,
    progress: Number(row.progress),
    error_message: (row.error_message as string | null) ?? null,
    constraints: fromJson(row.constraints, { cpu: 0, ram_mb: 0, vram_mb: 0, tags: [] }),
    event_delivery: fromJson(row.event_delivery, null),
    created_at: Number(row.created_at),
    updated_at: Number(row.updated_at),
    next_event_id: Number(row.next_event_id),
    webhook_url: (row.webhook_url as string | null) ?? null,
    webhook_cursor: Number(row.webhook_cursor),
  };
}

export function rowToEvent(row: Row): EventRecord {
  const msg = String(row.msg);
  // msg is stored as text; a number went in as JSON so it comes back a number.
  return { id: Number(row.id), type: String(row.type), t: Number(row.t), msg: fromJson<string | number>(msg, ""), state: row.state as RunState, payload: fromJson(row.payload, null) };
}

export function rowToAttempt(row: Row): AttemptRecord {
  return {
    number: Number(row.number),
    worker_id: (row.worker_id as string | null) ?? null,
    state: row.state as RunState,
    started_at: row.started_at === null ? null : Number(row.started_at),
    ended_at: row.ended_at === null ? null : Number(row.ended_at),
    error_message: (row.error_message as string | null) ?? null,
  };
}

export function rowToWorker(row: Row): WorkerRecord {
  return {
    worker_id: String(row.worker_id),
    resources: fromJson(row.resources, { cpu_cores: 0, ram_mb: 0, gpus: [] }),
    tags: fromJson(row.tags, []),
    running_ops: fromJson(row.running_ops, []),
    status: row.status === "online" ? "online" : "offline",
    last_heartbeat: Number(row.last_heartbeat),
    protocol: String(row.protocol),
  };
}

export function rowToDefinition(row: Row): DefinitionRecord {
  return fromJson<DefinitionRecord>(row.body, {} as DefinitionRecord);
}

export function workerToRow(w: WorkerRecord): unknown[] {
  return [w.worker_id, toJson(w.resources), toJson(w.tags), toJson(w.running_ops), w.status, w.last_heartbeat, w.protocol];
}
