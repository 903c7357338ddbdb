/**
 * What the store keeps for the job registry, one record type per tracked
 * thing. Times are milliseconds since the epoch (numbers) inside the store;
 * the HTTP layer turns them into ISO 8601 strings.
 */

export const RUN_STATES = ["PENDING", "ASSIGNED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"] as const;
export type RunState = (typeof RUN_STATES)[number];

export interface Constraints {
  cpu: number;
  ram_mb: number;
  vram_mb: number;
  tags: string[];
}

/** One declared input of a definition or a graph: derived from the graph's tube inputs. */
export interface InputDecl {
  type: string;
  required: boolean;
  default?: unknown;
  description?: string;
}

export interface DefinitionRecord {
  name: string;
  version: string;
  description: string;
  /** The graph file's name under the server's graphs folder, or "" for an inline graph. */
  image: string;
  /** The graph spec (extends resolved), as the workers receive it. */
  graph: Record<string, unknown>;
  inputs: Record<string, InputDecl>;
  constraints: Constraints;
  retry_policy: { max_attempts: number };
  priority: number;
  event_delivery: Record<string, unknown> | null;
  created_at: number;
}

export interface RunRecord {
  id: string;
  definition: { name: string; version: string } | null;
  image: string;
  graph: Record<string, unknown>;
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown> | null;
  priority: number;
  state: RunState;
  attempt: number;
  max_attempts: number;
  worker_id: string | null;
  progress: number;
  error_message: string | null;
  constraints: Constraints;
  event_delivery: Record<string, unknown> | null;
  created_at: number;
  updated_at: number;
  /** The id the run's next event gets (events count from 0 per run). */
  next_event_id: number;
  /** Webhook delivery: the URL (from event_delivery) and the last event id delivered (-1: none). */
  webhook_url: string | null;
  webhook_cursor: number;
}

export interface EventRecord {
  id: number;
  type: string;
  t: number;
  msg: string | number;
  /** The run's state after the event. */
  state: RunState;
  payload: Record<string, unknown> | null;
}

/** An event before the store numbered it. `key` (from a worker) makes a resend a no-op. */
export type NewEvent = Omit<EventRecord, "id"> & { key?: string };

export interface AttemptRecord {
  number: number;
  worker_id: string | null;
  state: RunState;
  started_at: number | null;
  ended_at: number | null;
  error_message: string | null;
}

export interface GpuResources {
  id: number;
  vram_mb: number;
  tags: string[];
}

export interface WorkerResources {
  cpu_cores: number;
  ram_mb: number;
  gpus: GpuResources[];
}

export interface WorkerRecord {
  worker_id: string;
  resources: WorkerResources;
  tags: string[];
  running_ops: Array<Record<string, unknown>>;
  status: "online" | "offline";
  last_heartbeat: number;
  /** How the worker talks to the registry: "http" (polls and claims); room for pushed workers. */
  protocol: string;
}

/** What a transition writes: the run as it becomes, its new events, and the attempts it touches as they become. */
export interface RunChange {
  run: RunRecord;
  events: NewEvent[];
  attempts?: AttemptRecord[];
}
