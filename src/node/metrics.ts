/**
 * `ctx.log(name, value, step?)` for nodes: a metric of the tracked run. The
 * runner that runs the node hands it on (LocalRunner emits it as a `metric`
 * event; a node runner process sends it to the command node, whose ZmqRunner
 * emits it), and whoever tracks the run listens. With no listener it costs
 * a call and is dropped. The step is the node's root epoch when not given.
 */
import type { Epoch } from "../graph/epoch.ts";

export interface NodeMetric {
  nodeId: string;
  name: string;
  value: unknown;
  step: number;
}

export type MetricSink = (metric: NodeMetric) => void;

/** The context a node's `log` is called on. */
export interface LogContext {
  nodeId: string;
  epoch: Epoch;
}

/** The step of a metric logged without one: the node's root epoch. */
export function rootStep(epoch: Epoch): number {
  return typeof epoch === "number" ? epoch : epoch[0];
}

/**
 * The `log` of a node's context, sending to `sink`: called as `ctx.log(...)`, it reads the node
 * id and epoch from the context. `stepOf` gives the step when the node gives none (a nested
 * tube's runner counts from the parent's epoch, not its own).
 */
export function metricLogger(sink: MetricSink, stepOf: (epoch: Epoch) => number = rootStep): (this: LogContext, name: string, value: unknown, step?: number) => void {
  return function log(this: LogContext, name: string, value: unknown, step?: number): void {
    sink({ nodeId: this.nodeId, name, value, step: step ?? stepOf(this.epoch) });
  };
}

/** A `log` for runners nobody tracks. */
export const dropMetric = metricLogger(() => undefined);
