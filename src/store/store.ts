/**
 * The store behind the bridge's registries: one interface, two
 * implementations (SQLite in one file, the default; PostgreSQL when several
 * servers share a registry). The store keeps records and makes each change
 * atomic; what a change *is* (the state machine, placement) is decided by
 * pure functions the caller passes in, so both stores apply the same rules.
 */
import type { TrackingStore } from "./tracking-store.ts";
import type { AttemptRecord, DefinitionRecord, EventRecord, NewEvent, RunChange, RunRecord, RunState, WorkerRecord } from "./records.ts";

export interface RunQuery {
  states?: RunState[];
  workerId?: string;
  /** Newest first; default 100. */
  limit?: number;
}

/**
 * Decides, inside the claim's transaction, which pending runs go to the
 * worker. `pending` is read as the planner walks it (priority, then age):
 * a planner that stops early leaves the rest of the queue unread.
 */
export type ClaimPlanner = (worker: WorkerRecord, held: RunRecord[], pending: Iterable<RunRecord>) => RunChange[];

export interface Store {
  readonly kind: "sqlite" | "postgres";
  /** Run tracking and the WebSocket worker registry, over the same database. */
  readonly tracking: TrackingStore;
  close(): Promise<void>;

  /** Adds a definition, or replaces the one with the same name and version. */
  putDefinition(def: DefinitionRecord): Promise<DefinitionRecord>;
  /** The given version, or the latest created when version is omitted. */
  getDefinition(name: string, version?: string): Promise<DefinitionRecord | undefined>;
  listDefinitions(): Promise<DefinitionRecord[]>;

  /** Inserts a run with its first attempt and events (numbered from 0). */
  createRun(change: RunChange): Promise<RunRecord>;
  getRun(id: string): Promise<RunRecord | undefined>;
  listRuns(query?: RunQuery): Promise<RunRecord[]>;
  /**
   * Reads the run under a lock, applies `change` (which may throw to refuse),
   * writes the result; undefined when there is no such run. With `key`, an
   * event already stored under that key makes this a no-op returning the run
   * as it is (a worker's resend after a lost answer).
   */
  updateRun(id: string, change: (run: RunRecord) => RunChange, options?: { key?: string }): Promise<RunRecord | undefined>;
  listEvents(runId: string, after?: number): Promise<EventRecord[]>;
  listAttempts(runId: string): Promise<AttemptRecord[]>;

  /** Registers or updates a worker (online, last heartbeat now). */
  putWorker(worker: WorkerRecord): Promise<WorkerRecord>;
  getWorker(id: string): Promise<WorkerRecord | undefined>;
  listWorkers(): Promise<WorkerRecord[]>;
  /**
   * Atomically: marks the worker seen at `now`, reads the runs it holds and
   * the pending runs (priority, then age), lets `plan` choose, writes the
   * changes. No pending run is handed to two workers, whatever the number of
   * servers. Undefined when the worker is unknown.
   */
  claim(workerId: string, now: number, plan: ClaimPlanner): Promise<RunRecord[] | undefined>;
  /**
   * Workers online whose last heartbeat is older than `cutoff` become
   * offline, and `lose` is applied to each run they held, in the same
   * transaction per worker. Returns the workers marked offline.
   */
  expireWorkers(cutoff: number, lose: (run: RunRecord) => RunChange): Promise<string[]>;

  /** Runs with a webhook and events not yet delivered. */
  webhookBacklog(limit: number): Promise<RunRecord[]>;
  /** Records that events up to `cursor` were delivered (never moves back). */
  advanceWebhook(runId: string, cursor: number): Promise<void>;
  /**
   * Takes the run's delivery for `ms` (false if another server holds it), so
   * two servers sharing a database never deliver one run's events twice.
   */
  leaseWebhook(runId: string, owner: string, now: number, ms: number): Promise<boolean>;
}

/** The run's constraints, attempts etc. as stored: JSON text for nested values. */
export function toJson(v: unknown): string | null {
  return v === null || v === undefined ? null : JSON.stringify(v);
}

export function fromJson<T>(v: unknown, fallback: T): T {
  if (v === null || v === undefined) return fallback;
  return JSON.parse(String(v)) as T;
}

/** The resend key goes on the first of a change's events: that one stands for the worker's post. */
export function keyFirst(events: NewEvent[], key: string | undefined): NewEvent[] {
  if (key === undefined || events.length === 0) return events;
  return [{ ...events[0]!, key }, ...events.slice(1)];
}
