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

/** The `log` of a node's context, sending to `sink`: called as `ctx.log(...)`, it reads the node id and epoch from the context. */
export function metricLogger(sink: MetricSink): (this: LogContext, name: string, value: unknown, step?: number) => void {
  return function log(this: LogContext, name: string, value: unknown, step?: number): void {
    sink({ nodeId: this.nodeId, name, value, step: step ?? (typeof this.epoch === "number" ? this.epoch : this.epoch[0]) });
  };
}

/** A `log` for runners nobody tracks. */
export const dropMetric = metricLogger(() => undefined);
