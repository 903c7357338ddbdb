/**
 * The worker registry's WebSocket messages (the VideoSDK agents protocol),
 * once, in zod.
 *
 * Server to worker, each schema is strict and lists exactly the fields that
 * every version of the reference client's message classes accepts: the client
 * builds them with `Class(**message)`, so one key it does not know raises in
 * its receive loop and drops the connection. Anything of ours (graph, inputs,
 * epochs, run ids) travels inside `metadata`. `toWorker` checks every frame
 * against these before it is sent.
 *
 * Worker to server, every field of the reference's `WorkerMessage` (plus the
 * `timestamp` of its `WorkerPing`) is accepted and unknown keys are dropped,
 * so a newer client that adds a field still works.
 */
import { z } from "zod";

/** The one server-to-worker message the client reads by key, not through a class. */
export const RegisterReply = z.union([
  z.strictObject({ type: z.literal("register"), success: z.literal(true), worker_id: z.string(), payload: z.record(z.string(), z.unknown()) }),
  z.strictObject({ type: z.literal("register"), success: z.literal(false), message: z.string() }),
]);
export type RegisterReply = z.infer<typeof RegisterReply>;

export const AvailabilityRequest = z.strictObject({
  type: z.literal("availability_request"),
  job_id: z.string(),
  room_id: z.string(),
  agent_name: z.string(),
});
export type AvailabilityRequest = z.infer<typeof AvailabilityRequest>;

export const JobAssignment = z.strictObject({
  type: z.literal("job_assignment"),
  job_id: z.string(),
  room_id: z.string(),
  agent_name: z.string(),
  token: z.string(),
  url: z.string(),
  room_options: z.record(z.string(), z.unknown()).nullable(),
  metadata: z.record(z.string(), z.unknown()),
});
export type JobAssignment = z.infer<typeof JobAssignment>;

export const JobTermination = z.strictObject({
  type: z.literal("job_termination"),
  job_id: z.string(),
  reason: z.string().nullable(),
});
export type JobTermination = z.infer<typeof JobTermination>;

export const Pong = z.strictObject({ type: z.literal("pong"), timestamp: z.number().nullable() });
export type Pong = z.infer<typeof Pong>;

export const ServerToWorker = z.union([RegisterReply, AvailabilityRequest, JobAssignment, JobTermination, Pong]);
export type ServerToWorker = z.infer<typeof ServerToWorker>;

/**
 * The fields each server-to-worker type may carry, shared by the reference
 * document's classes and videosdk-agents 1.0.24 (the register reply is read
 * by key: type, success, worker_id, payload, message).
 */
export const SERVER_FIELDS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  register: ["type", "success", "worker_id", "payload", "message"],
  availability_request: ["type", "job_id", "room_id", "agent_name"],
  job_assignment: ["type", "job_id", "room_id", "agent_name", "token", "url", "room_options", "metadata"],
  job_termination: ["type", "job_id", "reason"],
  pong: ["type", "timestamp"],
});

/** Serializes a server-to-worker message after checking it holds nothing outside its type's fields. */
export function toWorker(msg: ServerToWorker): string {
  return JSON.stringify(ServerToWorker.parse(msg));
}

const opt = <T extends z.ZodType>(t: T) => t.nullish();

/** Every field of the reference's WorkerMessage (all optional but `type`); unknown keys are stripped. */
export const WorkerMessage = z.object({
  type: z.string(),
  worker_id: opt(z.string()),
  agent_name: opt(z.string()),
  namespace: opt(z.string()),
  version: opt(z.string()),
  capabilities: opt(z.array(z.string())),
  status: opt(z.string()),
  load: opt(z.number()),
  job_count: opt(z.number().int()),
  job_id: opt(z.string()),
  available: opt(z.boolean()),
  participant_identity: opt(z.string()),
  participant_name: opt(z.string()),
  participant_metadata: opt(z.string()),
  error: opt(z.string()),
  registry_uuid: opt(z.string()),
  max_capacity: opt(z.number().int()),
  current_load: opt(z.number()),
  token: opt(z.string()),
  load_threshold: opt(z.number()),
  max_processes: opt(z.number().int()),
  /** WorkerPing's. */
  timestamp: opt(z.number()),
});
export type WorkerMessage = z.infer<typeof WorkerMessage>;

/** Worker status words: the reference's four, and ours. */
export const OFFERABLE_STATUSES: ReadonlySet<string> = new Set(["idle", "busy", "available"]);
export const WORKER_STATUSES = ["idle", "busy", "offline", "error", "available", "draining"] as const;

/** The reference's job status words, as a worker reports them in `job_update`. */
export const JOB_STATUSES = ["pending", "running", "completed", "failed", "cancelled"] as const;
