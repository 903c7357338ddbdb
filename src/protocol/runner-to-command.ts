/** Messages a runner sends to the command node (runner DEALER -> command inbox ROUTER). */
import { z } from "zod";
import { EpochSchema, NodeIdSchema, NodeStatusSchema, messageSchema } from "./common.ts";
import { Heartbeat, IdentifyValue } from "./command-to-runner.ts";

/** Heartbeat travels both ways; it is defined once, in command-to-runner.ts. */
export { Heartbeat };

/** A runner says who and where it is. */
export const Identify = messageSchema("identify", IdentifyValue);
export type Identify = z.infer<typeof Identify>;

export const StatusValue = z.object({
  status: NodeStatusSchema,
  /** The hosted node this status is about, when not the whole runner. */
  node_id: NodeIdSchema.optional(),
  /** A short human-readable reason. */
  detail: z.string().optional(),
});
export type StatusValue = z.infer<typeof StatusValue>;

export const Status = messageSchema("status", StatusValue);
export type Status = z.infer<typeof Status>;

export const ErrorValue = z.object({
  /** The thrown error's class name. */
  err_type: z.string(),
  message: z.string(),
  /** Extra arguments of the error, when it had any (kept for parity with the reference runtime). */
  err_args: z.array(z.unknown()).optional(),
  /** The stack of the process that ran the node. */
  traceback: z.string(),
  /** The node that threw (may differ from the envelope's runner id). */
  node_id: NodeIdSchema,
  epoch: EpochSchema.optional(),
  /** The TubularError code, when the error was one. */
  code: z.string().optional(),
});
export type ErrorValue = z.infer<typeof ErrorValue>;

/** A node threw, or the runner failed. */
export const ErrorMsg = messageSchema("error", ErrorValue);
export type ErrorMsg = z.infer<typeof ErrorMsg>;

export const MetricPoint = z.object({
  node_id: NodeIdSchema,
  name: z.string().min(1).max(200),
  value: z.unknown(),
  step: z.number().int().min(0),
});
export type MetricPoint = z.infer<typeof MetricPoint>;

/**
 * The `ctx.log` metrics of the runner's nodes since its last message of this
 * kind: one message per round of work, on the control connection, so they
 * reach the command node before the runner's `closed` status.
 */
export const Metrics = messageSchema("metrics", z.object({ metrics: z.array(MetricPoint).max(10_000) }));
export type Metrics = z.infer<typeof Metrics>;

export type RunnerToCommand = Identify | Status | ErrorMsg | Heartbeat | Metrics;
