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

/** Per-node figures measured in the runner (runner/node-metrics.ts), sent about once a heartbeat period while they change. */
export const NodeMetricsValue = z.object({
  nodes: z.record(
    NodeIdSchema,
    z.object({
      runs: z.number().int().nonnegative(),
      errors: z.number().int().nonnegative(),
      events: z.record(z.string(), z.number().int().nonnegative()),
      p50Ms: z.number().nonnegative().nullable(),
      p99Ms: z.number().nonnegative().nullable(),
    }),
  ),
});
export type NodeMetricsValue = z.infer<typeof NodeMetricsValue>;

export const NodeMetricsMessage = messageSchema("node_metrics", NodeMetricsValue);
export type NodeMetricsMessage = z.infer<typeof NodeMetricsMessage>;

export type RunnerToCommand = Identify | Status | ErrorMsg | Heartbeat | NodeMetricsMessage;
