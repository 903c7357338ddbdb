/**
 * `ctx.log(name, value, step?)` for nodes: a metric goes to this process's
 * metric sink (set by whoever tracks the run, e.g. `tubular run --track`);
 * with no sink it costs a check and is dropped. The step is the node's root
 * epoch when not given.
 */
import type { Epoch } from "../graph/epoch.ts";

export interface NodeMetric {
  nodeId: string;
  name: string;
  value: unknown;
  step: number;
}

export type MetricSink = (metric: NodeMetric) => void;

let sink: MetricSink | undefined;

/** Sets (or with undefined, clears) where this process's node metrics go. */
export function setMetricSink(next: MetricSink | undefined): void {
  sink = next;
}

/** The `log` of a node's context: called as `ctx.log(...)`, it reads the node id and epoch from the context. */
export function logMetric(this: { nodeId: string; epoch: Epoch }, name: string, value: unknown, step?: number): void {
  if (!sink) return;
  sink({ nodeId: this.nodeId, name, value, step: step ?? (typeof this.epoch === "number" ? this.epoch : this.epoch[0]) });
}
