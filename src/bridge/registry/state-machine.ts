/**
 * The run's state machine, pure: each function takes a run as stored and
 * returns what changes (the run as it becomes, the events that record it,
 * the attempts it touches), or throws a 400 RegistryError for a transition
 * the state does not allow. The stores apply these inside their
 * transactions, so both apply the same rules.
 *
 *   PENDING -> ASSIGNED -> RUNNING -> COMPLETED | FAILED | CANCELLED
 *   ASSIGNED -> PENDING (released); FAILED | CANCELLED -> PENDING (retry, a new attempt)
 *   PENDING | ASSIGNED -> CANCELLED; ASSIGNED -> FAILED; COMPLETED is final.
 */
import type { AttemptRecord, NewEvent, RunChange, RunRecord, RunState } from "../../store/records.ts";
import { badRequest } from "./registry-error.ts";

/** Event types a client may post; the first four make transitions. */
export const POSTED_EVENT_TYPES = ["STARTED", "COMPLETED", "FAILED", "CANCELLED", "PROGRESS", "INFO"] as const;
export type PostedEventType = (typeof POSTED_EVENT_TYPES)[number];

/** Event types the server records for transitions no client event caused. */
export const SERVER_EVENT_TYPES = ["CREATED", "ASSIGNED", "RELEASED", "RETRY"] as const;

export interface PostedEvent {
  type: string;
  msg: string | number;
  payload?: Record<string, unknown> | null | undefined;
}

const FINAL: readonly RunState[] = ["COMPLETED", "FAILED", "CANCELLED"];

function event(type: string, msg: string | number, state: RunState, now: number, payload: Record<string, unknown> | null = null): NewEvent {
  return { type, msg, state, t: now, payload };
}

function attemptOf(run: RunRecord, patch: Partial<AttemptRecord>): AttemptRecord {
  return { number: run.attempt, worker_id: run.worker_id, state: run.state, started_at: null, ended_at: null, error_message: null, ...patch };
}

function refuseIfFinal(run: RunRecord): void {
  if (run.state === "COMPLETED") throw badRequest(`run ${run.id} is COMPLETED, which is final: it cannot change`);
}

function need(run: RunState, allowed: readonly RunState[], what: string, id: string): void {
  if (!allowed.includes(run)) throw badRequest(`run ${id} is ${run}: ${what} needs ${allowed.join(" or ")}`);
}

/** A new run: PENDING, attempt 1, its CREATED event and its first (pending) attempt. */
export function created(run: Omit<RunRecord, "state" | "attempt" | "worker_id" | "progress" | "error_message" | "outputs" | "next_event_id" | "webhook_cursor" | "updated_at">): RunChange {
  const r: RunRecord = { ...run, state: "PENDING", attempt: 1, worker_id: null, progress: 0, error_message: null, outputs: null, next_event_id: 0, webhook_cursor: -1, updated_at: run.created_at };
  return { run: r, events: [event("CREATED", "created", "PENDING", run.created_at)], attempts: [attemptOf(r, {})] };
}

/** Applies an event a worker or a client posted. */
export function applyEvent(run: RunRecord, e: PostedEvent, now: number): RunChange {
  refuseIfFinal(run);
  const type = e.type.toUpperCase();
  const payload = e.payload ?? null;
  const base = { ...run, updated_at: now };
  switch (type) {
    case "STARTED": {
      need(run.state, ["ASSIGNED"], "STARTED", run.id);
      const r: RunRecord = { ...base, state: "RUNNING" };
      return { run: r, events: [event(type, e.msg, "RUNNING", now, payload)], attempts: [attemptOf(r, { started_at: now })] };
    }
    case "PROGRESS": {
      need(run.state, ["RUNNING"], "PROGRESS", run.id);
      const p = typeof e.msg === "number" ? e.msg : Number(e.msg);
      if (!Number.isFinite(p) || p < 0 || p > 100) throw badRequest(`PROGRESS msg must be a number from 0 to 100, got ${JSON.stringify(e.msg)}`, [{ path: "msg", message: "a number from 0 to 100" }]);
      return { run: { ...base, progress: p }, events: [event(type, p, run.state, now, payload)] };
    }
    case "INFO":
      return { run: base, events: [event(type, e.msg, run.state, now, payload)] };
    case "COMPLETED": {
      need(run.state, ["RUNNING"], "COMPLETED", run.id);
      const outputs = payload && typeof payload.outputs === "object" && payload.outputs !== null ? (payload.outputs as Record<string, unknown>) : run.outputs;
      const r: RunRecord = { ...base, state: "COMPLETED", outputs, progress: 100 };
      return { run: r, events: [event(type, e.msg, "COMPLETED", now, payload)], attempts: [attemptOf(r, { ended_at: now })] };
    }
    case "FAILED": {
      need(run.state, ["ASSIGNED", "RUNNING"], "FAILED", run.id);
      const message = payload && typeof payload.error_message === "string" ? payload.error_message : String(e.msg);
      const r: RunRecord = { ...base, state: "FAILED", error_message: message };
      return { run: r, events: [event(type, e.msg, "FAILED", now, payload ?? { error_message: message })], attempts: [attemptOf(r, { ended_at: now, error_message: message })] };
    }
    case "CANCELLED": {
      need(run.state, ["PENDING", "ASSIGNED", "RUNNING"], "CANCELLED", run.id);
      const r: RunRecord = { ...base, state: "CANCELLED" };
      return { run: r, events: [event(type, e.msg, "CANCELLED", now, payload)], attempts: [attemptOf(r, { ended_at: now })] };
    }
    default:
      throw badRequest(`unknown event type "${e.type}": expected one of ${POSTED_EVENT_TYPES.join(", ")}`, [{ path: "type", message: "unknown event type" }]);
  }
}

/** A pending run handed to a worker. */
export function assigned(run: RunRecord, workerId: string, now: number): RunChange {
  need(run.state, ["PENDING"], "assignment", run.id);
  const r: RunRecord = { ...run, state: "ASSIGNED", worker_id: workerId, updated_at: now };
  return { run: r, events: [event("ASSIGNED", workerId, "ASSIGNED", now)], attempts: [attemptOf(r, {})] };
}

/** An assigned run given back to the queue (same attempt). */
export function released(run: RunRecord, now: number, why = "released"): RunChange {
  need(run.state, ["ASSIGNED"], "release", run.id);
  const r: RunRecord = { ...run, state: "PENDING", worker_id: null, updated_at: now };
  return { run: r, events: [event("RELEASED", why, "PENDING", now)], attempts: [attemptOf(r, {})] };
}

/** A failed or cancelled run queued again as a new attempt, while attempts remain. */
export function retried(run: RunRecord, now: number): RunChange {
  refuseIfFinal(run);
  need(run.state, ["FAILED", "CANCELLED"], "retry", run.id);
  if (run.attempt >= run.max_attempts) throw badRequest(`run ${run.id} has had ${run.attempt} of its ${run.max_attempts} attempts: no retry left`);
  const r: RunRecord = { ...run, state: "PENDING", attempt: run.attempt + 1, worker_id: null, progress: 0, error_message: null, updated_at: now };
  return { run: r, events: [event("RETRY", `attempt ${r.attempt}`, "PENDING", now)], attempts: [attemptOf(r, {})] };
}

/** The run's worker went silent: FAILED "worker lost", then retried while attempts remain. */
export function lost(run: RunRecord, now: number): RunChange {
  const failed = applyEvent(run, { type: "FAILED", msg: "worker lost", payload: { error_message: "worker lost" } }, now);
  if (failed.run.attempt >= failed.run.max_attempts) return failed;
  const again = retried(failed.run, now);
  return { run: again.run, events: [...failed.events, ...again.events], attempts: [...(failed.attempts ?? []), ...(again.attempts ?? [])] };
}

/** PATCH /runs/{id}: state, outputs and priority. A state change goes through the same rules as events. */
export function patched(run: RunRecord, p: { state?: RunState | undefined; outputs?: Record<string, unknown> | undefined; priority?: number | undefined }, now: number): RunChange {
  refuseIfFinal(run);
  let change: RunChange = { run: { ...run, updated_at: now }, events: [] };
  if (p.outputs !== undefined) change.run = { ...change.run, outputs: p.outputs };
  if (p.priority !== undefined) change.run = { ...change.run, priority: p.priority };
  if (p.state !== undefined && p.state !== run.state) {
    const r = change.run;
    let next: RunChange;
    switch (p.state) {
      case "RUNNING":
        next = applyEvent(r, { type: "STARTED", msg: "state set to RUNNING" }, now);
        break;
      case "COMPLETED":
        next = applyEvent(r, { type: "COMPLETED", msg: "state set to COMPLETED", payload: p.outputs ? { outputs: p.outputs } : null }, now);
        break;
      case "FAILED":
        next = applyEvent(r, { type: "FAILED", msg: "state set to FAILED" }, now);
        break;
      case "CANCELLED":
        next = applyEvent(r, { type: "CANCELLED", msg: "state set to CANCELLED" }, now);
        break;
      case "PENDING":
        next = r.state === "ASSIGNED" ? released(r, now) : retried(r, now);
        break;
      case "ASSIGNED":
        throw badRequest("a run becomes ASSIGNED only when a worker claims it (POST /workers/{id}/claim)");
    }
    change = next;
  }
  return change;
}

export function isFinal(state: RunState): boolean {
  return FINAL.includes(state);
}
