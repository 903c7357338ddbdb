/** Messages between runners (node outbox XPUB -> SUB of downstream runners and of the command node). */
import { z } from "zod";
import type { TubeEvent } from "../graph/event.ts";
import { EpochSchema, NodeIdSchema, TimestampSchema, messageSchema } from "./common.ts";
import { NodeErrorWire } from "./node-error.ts";

/** One signal's value in one epoch: the wire form of `TubeEvent`. */
export const TubeEventSchema = z.object({
  id: z.number(),
  timestamp: TimestampSchema,
  node_id: NodeIdSchema,
  signal: z.string(),
  epoch: EpochSchema,
  value: z.unknown(),
});

/**
 * A node finished an epoch: `[nodeId, epochKey]` (epoch keys as in
 * src/graph/epoch.ts), or `[nodeId, epochKey, error]` when it threw: the
 * error travels with its completion, so whoever hears that the node is done
 * hears why it failed in the same message.
 */
export const DoneEntry = z.union([z.tuple([z.string(), z.string()]), z.tuple([z.string(), z.string(), NodeErrorWire])]);

/**
 * A runner finished a root epoch: `[runnerId, rootKey]` stands for a done
 * entry of every node of that runner outside any map (sub-epoch completions
 * and failures still travel one by one in `done`). One entry instead of one
 * per node: on chain100 packed, the driver spent most of its 0.39-0.59 ms of
 * CPU per epoch decoding and booking 100 done entries and 100 events
 * (bench/node-cost.ts).
 */
export const FinishedEntry = z.tuple([z.string(), z.string()]);

export const EventValue = z.object({
  /**
   * Events the runner's readers need: those of its nodes read from another
   * process, and of its maps (whose items open sub-epochs everywhere); every
   * event once someone subscribed to the runner's all-values topic (an `event`
   * listener, see topics.ts).
   */
  events: z.array(TubeEventSchema),
  /**
   * Which nodes finished which epochs. A node that ran or was skipped and
   * emitted nothing still reports done, so downstream schedulers can tell
   * "no event" from "not yet".
   */
  done: z.array(DoneEntry),
  /** Root epochs whole runners finished, applied after `done` (so a failure in `done` is heard first). */
  finished: z.array(FinishedEntry).optional(),
});
export interface EventValue {
  events: TubeEvent[];
  done: Array<[nodeId: string, epochKey: string] | [nodeId: string, epochKey: string, error: NodeErrorWire]>;
  finished?: Array<[runnerId: string, rootKey: string]>;
}

/** The events a runner's nodes emitted, published on the runner's outbox with its id as topic. */
export const Event = messageSchema("event", EventValue);
export interface Event {
  type: "event";
  node_id: string;
  timestamp: number;
  value: EventValue;
}

// The zod-inferred type and the hand-written one must stay the same shape.
type Inferred = z.infer<typeof Event>;
const _sameShape: [Inferred extends Event ? true : false, Event extends Inferred ? true : false] = [true, true];
void _sameShape;


function isEpoch(e: unknown): boolean {
  if (typeof e === "number") return Number.isInteger(e);
  if (!Array.isArray(e) || e.length === 0 || !Number.isInteger(e[0])) return false;
  for (let i = 1; i < e.length; i++) {
    const step = e[i];
    if (!Array.isArray(step) || step.length !== 2 || typeof step[0] !== "string" || !Number.isInteger(step[1])) return false;
  }
  return true;
}

function isNodeId(s: unknown): boolean {
  return typeof s === "string" && s.length > 0 && s.length <= 255 && s.charCodeAt(0) !== 0;
}

/**
 * The structural check of an event message's value, equivalent to
 * `EventValue` but without zod's allocation of a parsed copy: events are the
 * hot path (bench/raw-pubsub.bench.ts reports decode rates with either check), and
 * test/unit/protocol-codec.test.ts which checks that it agrees with the zod
 * schema on the same inputs). Event `value`s are left as they are: they are
 * the nodes' data, checked by the receiving slot if at all.
 */
export function isEventValue(v: unknown): v is EventValue {
  if (typeof v !== "object" || v === null) return false;
  const { events, done, finished } = v as { events?: unknown; done?: unknown; finished?: unknown };
  if (!Array.isArray(events) || !Array.isArray(done)) return false;
  if (finished !== undefined) {
    if (!Array.isArray(finished)) return false;
    for (let i = 0; i < finished.length; i++) {
      const f = finished[i];
      if (!Array.isArray(f) || f.length !== 2 || typeof f[0] !== "string" || typeof f[1] !== "string") return false;
    }
  }
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as Record<string, unknown> | null;
    if (
      typeof e !== "object" ||
      e === null ||
      typeof e.id !== "number" ||
      typeof e.timestamp !== "number" ||
      !isNodeId(e.node_id) ||
      typeof e.signal !== "string" ||
      !isEpoch(e.epoch) ||
      !("value" in e)
    )
      return false;
  }
  for (let i = 0; i < done.length; i++) {
    const d = done[i];
    if (!Array.isArray(d) || typeof d[0] !== "string" || typeof d[1] !== "string") return false;
    // A failed completion is rare: its error gets the full schema check.
    if (d.length !== 2 && (d.length !== 3 || !NodeErrorWire.safeParse(d[2]).success)) return false;
  }
  return true;
}
