/** An event: one signal's value in one epoch, as it travels between nodes and to listeners. */
import type { Epoch } from "./epoch.ts";

export interface TubeEvent {
  /** Unique per runner run. */
  readonly id: number;
  /** Milliseconds since the Unix epoch, when the node emitted it. */
  readonly timestamp: number;
  readonly node_id: string;
  readonly signal: string;
  readonly epoch: Epoch;
  readonly value: unknown;
}
