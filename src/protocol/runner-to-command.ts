/** Messages a runner sends to the command node (runner DEALER -> command inbox ROUTER). */
import { z } from "zod";
import { NodeIdSchema, NodeStatusSchema, messageSchema } from "./common.ts";
import { Heartbeat, IdentifyValue } from "./command-to-runner.ts";
import { NodeErrorWire } from "./node-error.ts";

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
  /** With `node_id`: the answer to an `enable` message, whether that node runs from now on. */
  enabled: z.boolean().optional(),
});
export type StatusValue = z.infer<typeof StatusValue>;

export const Status = messageSchema("status", StatusValue);
export type Status = z.infer<typeof Status>;

/**
 * A failure that belongs to no epoch (a node's init or deinit, the runner
 * itself): the NodeError wire form. A node failing in an epoch reports it in
 * that epoch's completion instead (runner-to-runner.ts), so the two arrive together.
 */
export const ErrorValue = NodeErrorWire;
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

/** Per-node figures measured in the runner (runner/node-metrics.ts), sent about once a heartbeat period while they change. */
export const NodeFigures = z.object({
  runs: z.number().int().nonnegative(),
  errors: z.number().int().nonnegative(),
  events: z.record(z.string(), z.number().int().nonnegative()),
  p50Ms: z.number().nonnegative().nullable(),
  p99Ms: z.number().nonnegative().nullable(),
});
export const NodeMetricsValue = z.object({
  nodes: z.record(NodeIdSchema, NodeFigures),
  /** The frames the runner dropped so far, by kind (protocol/drops.ts), once it dropped any. */
  drops: z.record(z.string(), z.number().int().nonnegative()).optional(),
});
export type NodeMetricsValue = z.infer<typeof NodeMetricsValue>;

export const NodeMetricsMessage = messageSchema("node_metrics", NodeMetricsValue);
export type NodeMetricsMessage = z.infer<typeof NodeMetricsMessage>;
