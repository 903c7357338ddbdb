/**
 * Building blocks shared by every message schema: ids, epochs, node status.
 * Kept apart from `message.ts` so the per-direction files and the union can
 * import them without a cycle.
 */
import { z } from "zod";

/** The version of the wire format. Bumped on any incompatible change of the envelope, a schema or the codec's fixed record structures. */
/** 2: a failed completion carries its NodeError (was a flag, the error on the control channel); `epoch_ended` lost `cumulative`. */
/** 3: an event value may carry `finished` (a whole runner's root epochs), a new fixed record structure. */
export const PROTOCOL_VERSION = 3 as const;

/** A runner's life, as its status says it (see DESIGN.md "Protocol"). */
export const NodeStatus = {
  stopped: "stopped",
  waiting: "waiting",
  ready: "ready",
  running: "running",
  closed: "closed",
} as const;
export type NodeStatus = (typeof NodeStatus)[keyof typeof NodeStatus];
export const NodeStatusSchema = z.enum(["stopped", "waiting", "ready", "running", "closed"]);

/**
 * A node or runner id on the wire. It is used as a ZeroMQ routing id and as a
 * PUB/SUB topic, so it must be 1..255 bytes (routing id limit; an empty id
 * would be a subscription to every topic) and must not start with a NUL byte
 * (libzmq reserves routing ids starting with 0, and the transport reserves
 * NUL-prefixed topics for readiness probes).
 */
export const NodeIdSchema = z
  .string()
  .min(1)
  .max(255)
  .refine((s) => s.charCodeAt(0) !== 0, "must not start with a NUL character");

/** An epoch: a root integer, or `[root, [mapNode, index], ...]` (see src/graph/epoch.ts). */
export const EpochSchema = z.union([
  z.number().int(),
  z.tuple([z.number().int()], z.tuple([z.string(), z.number().int()])),
]);

/** Milliseconds since the Unix epoch; numbers, not ISO strings, because they are cheaper to encode and compare. */
export const TimestampSchema = z.number();

/** Builds the schema of one message: the common envelope with a literal type and its value. */
export function messageSchema<T extends string, V extends z.ZodType>(type: T, value: V) {
  return z.object({
    type: z.literal(type),
    node_id: NodeIdSchema,
    timestamp: TimestampSchema,
    value,
  });
}
