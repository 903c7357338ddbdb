/**
 * Records as the wire shows them: snake_case JSON, times as ISO 8601.
 */
import type { AttemptRecord, DefinitionRecord, EventRecord, RunRecord, WorkerRecord } from "../../store/records.ts";

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function definitionView(d: DefinitionRecord): Record<string, unknown> {
  return {
    name: d.name,
    version: d.version,
    description: d.description,
    image: d.image,
    ...(d.image ? {} : { graph: d.graph }),
    inputs: d.inputs,
    constraints: d.constraints,
    retry_policy: d.retry_policy,
    priority: d.priority,
    event_delivery: d.event_delivery,
    created_at: iso(d.created_at),
  };
}

export function eventView(e: EventRecord): Record<string, unknown> {
  return { id: e.id, type: e.type, t: iso(e.t), msg: e.msg, state: e.state, ...(e.payload ? { payload: e.payload } : {}) };
}

export function attemptView(a: AttemptRecord): Record<string, unknown> {
  return { number: a.number, worker_id: a.worker_id, state: a.state, started_at: iso(a.started_at), ended_at: iso(a.ended_at), error_message: a.error_message };
}

/** A run; with events and attempts when given (GET /runs/{id} and every answer about one run). */
export function runView(r: RunRecord, events?: EventRecord[], attempts?: AttemptRecord[]): Record<string, unknown> {
  return {
    id: r.id,
    definition: r.definition,
    image: r.image,
    inputs: r.inputs,
    outputs: r.outputs,
    priority: r.priority,
    state: r.state,
    attempt: r.attempt,
    max_attempts: r.max_attempts,
    worker_id: r.worker_id,
    progress: r.progress,
    error_message: r.error_message,
    constraints: r.constraints,
    event_delivery: r.event_delivery,
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at),
    ...(events ? { events: events.map(eventView) } : {}),
    ...(attempts ? { attempts: attempts.map(attemptView) } : {}),
  };
}

export function workerView(w: WorkerRecord, timeoutMs: number, now: number): Record<string, unknown> {
  // A worker past its timeout shows offline even before the sweeper has written it so.
  const status = w.status === "online" && now - w.last_heartbeat <= timeoutMs ? "online" : "offline";
  return { worker_id: w.worker_id, resources: w.resources, tags: w.tags, running_ops: w.running_ops, status, last_heartbeat: iso(w.last_heartbeat) };
}

/** What a claim hands a worker: everything it needs to run the graph. */
export function opView(r: RunRecord): Record<string, unknown> {
  return { run_id: r.id, attempt: r.attempt, image: r.image, graph: r.graph, inputs: r.inputs, constraints: r.constraints };
}
