/**
 * Messages the command node publishes to every runner (command outbox, PUB),
 * plus the heartbeat, which also travels the other way.
 */
import { z } from "zod";
import { EpochSchema, NodeIdSchema, NodeStatusSchema, messageSchema } from "./common.ts";

/** What a runner says about itself; also the entries of `announce`. One runner process may host several nodes. */
export const IdentifyValue = z.object({
  /** The runner's id (the node's id when it hosts one node). */
  node_id: NodeIdSchema,
  /** The address of the runner's node outbox (XPUB), as peers should connect to it. */
  outbox: z.string(),
  /** The outbox's CURVE public key (z85), when it is a CURVE server: subscribers need it to connect. */
  curve_key: z.string().length(40).optional(),
  status: NodeStatusSchema,
  /** Signals the runner publishes (for several nodes: `node.signal`). */
  signals: z.array(z.string()).nullable(),
  slots: z.array(z.string()).nullable(),
  /** Runner ids this runner subscribes to. */
  subscribed_to: z.array(z.string()),
  /** Runner ids known to subscribe to this runner. */
  subscribers: z.array(z.string()),
  pid: z.number().int().optional(),
  /** When the process hosts several nodes: each hosted node id with its signals and slots. */
  nodes: z
    .record(z.string(), z.object({ signals: z.array(z.string()).nullable(), slots: z.array(z.string()).nullable() }))
    .optional(),
  /** The run's secret (from the runner's config), in an identify only; never announced. */
  token: z.string().max(256).optional(),
});
export type IdentifyValue = z.infer<typeof IdentifyValue>;

export const AnnounceValue = z.object({
  /** The command inbox (SERVER) address runners send to. */
  inbox: z.string(),
  /** Every known runner, by runner id. */
  nodes: z.record(z.string(), IdentifyValue),
});
export type AnnounceValue = z.infer<typeof AnnounceValue>;

/** The command node tells every runner who is where; runners connect to the outboxes they need. */
export const Announce = messageSchema("announce", AnnounceValue);
export type Announce = z.infer<typeof Announce>;

/** Everyone re-identifies. */
export const Ping = messageSchema("ping", z.null());
export type Ping = z.infer<typeof Ping>;

/**
 * Instantiate the nodes (run their `init`), then wait for upstream
 * subscriptions. `first_epoch`: the epoch the runner starts at (a restarted
 * runner joins a run in progress). Sent to all, or to one runner.
 */
export const Init = messageSchema(
  "init",
  z
    .object({
      first_epoch: z.number().int().nonnegative(),
      /** Nodes enabled or disabled at run time so far (a restarted runner keeps them); absent: as in the graph file. */
      enabled: z.record(NodeIdSchema, z.boolean()).optional(),
    })
    .nullable(),
);
export type Init = z.infer<typeof Init>;

export const ProcessEpoch = z.object({
  epoch: z.number().int(),
  /** Process-scoped input for this epoch; null when none. */
  input: z.record(z.string(), z.unknown()).nullable(),
});
export type ProcessEpoch = z.infer<typeof ProcessEpoch>;

/** Several epochs in one message, so free-run does not pay one message per epoch. */
export const ProcessBatch = z.object({ epochs: z.array(ProcessEpoch).min(1) });
export type ProcessBatch = z.infer<typeof ProcessBatch>;

export const ProcessValue = z.union([ProcessEpoch, ProcessBatch]);
export type ProcessValue = z.infer<typeof ProcessValue>;

/** Run one epoch (`{epoch, input}`) or a batch of them (`{epochs: [...]}`). */
export const Process = messageSchema("process", ProcessValue);
export type Process = z.infer<typeof Process>;

function isProcessEpoch(e: unknown): boolean {
  if (typeof e !== "object" || e === null) return false;
  const { epoch, input } = e as { epoch?: unknown; input?: unknown };
  return Number.isInteger(epoch) && (input === null || (typeof input === "object" && input !== undefined && !Array.isArray(input)));
}

/**
 * The structural check of a process message's value, equal to `ProcessValue`
 * without zod's parsed copy: free-run sends one per batch of epochs, and a
 * source runner reads one per epoch of `process()` (test/unit/protocol-codec.test.ts
 * checks that it agrees with the schema).
 */
export function isProcessValue(v: unknown): v is ProcessValue {
  if (typeof v !== "object" || v === null) return false;
  const epochs = (v as { epochs?: unknown }).epochs;
  if (epochs === undefined) return isProcessEpoch(v);
  return Array.isArray(epochs) && epochs.length > 0 && epochs.every(isProcessEpoch);
}

/** The epochs of a process message, whichever form it has. */
export function processEpochs(value: ProcessValue): ProcessEpoch[] {
  return "epochs" in value ? value.epochs : [value];
}

/** Free-run `n` epochs, or without bound when `n` is null. */
export const Start = messageSchema("start", z.object({ n: z.number().int().nonnegative().nullable() }));
export type Start = z.infer<typeof Start>;

/** Stop free-run after the epochs in flight; nodes stay initialized. */
export const Stop = messageSchema("stop", z.null());
export type Stop = z.infer<typeof Stop>;

/** Release the nodes; the runner process exits unless `stay` is true (then it can be initialized again). */
export const Deinit = messageSchema("deinit", z.object({ stay: z.boolean() }).nullable());
export type Deinit = z.infer<typeof Deinit>;

/**
 * The driver gave up on an epoch (a runner of it died and is being
 * restarted): runners forget its state. An epoch that ends normally needs no
 * message: each runner forgets it once its own nodes are done with it.
 */
export const EpochEnded = messageSchema("epoch_ended", z.object({ epoch: EpochSchema }));
export type EpochEnded = z.infer<typeof EpochEnded>;

/**
 * Run (`enabled: true`, creating the node if it was disabled in the graph
 * file) or skip a node from the next epoch it is scheduled in. The runner that
 * hosts the node answers with a `status` naming the node and its `enabled`
 * once that holds; the others ignore it.
 */
export const Enable = messageSchema("enable", z.object({ node: NodeIdSchema, enabled: z.boolean() }));
export type Enable = z.infer<typeof Enable>;

/**
 * Liveness, both ways; a runner's heartbeat may carry its status. A runner
 * heartbeats from its own thread on its own connection (not the one it
 * identified on), so its heartbeat carries the run's token: only a heartbeat
 * with it binds that connection to the runner's liveness.
 */
export const Heartbeat = messageSchema("heartbeat", z.object({ status: NodeStatusSchema.optional(), token: z.string().optional() }).nullable());
export type Heartbeat = z.infer<typeof Heartbeat>;

