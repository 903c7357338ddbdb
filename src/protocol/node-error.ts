/**
 * The wire form of a `NodeError`, declared once: what a node runner sends
 * when a node fails (inside the completion of the epoch it failed in, or as an
 * `error` message when no epoch is involved, e.g. init), and the only two
 * functions that turn one into the other.
 */
import { z } from "zod";
import { NodeError } from "../errors.ts";
import { EpochSchema, NodeIdSchema } from "./common.ts";

export const NodeErrorWire = z.object({
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
export type NodeErrorWire = z.infer<typeof NodeErrorWire>;

type Epoch = z.infer<typeof EpochSchema>;

/** A NodeError as it travels; `nodeId` names the node when the error does not. */
export function nodeErrorToWire(err: NodeError, nodeId: string): NodeErrorWire {
  return {
    err_type: err.errorType ?? err.name,
    message: err.errorMessage ?? err.message,
    traceback: err.remoteStack ?? err.stack ?? "",
    node_id: err.nodeId || nodeId,
    ...(err.epoch !== undefined ? { epoch: err.epoch as Epoch } : {}),
    code: err.code,
  };
}

/**
 * The NodeError a wire form stands for. Only the codes a node runner may
 * report are taken from the wire; anything else is a failed node.
 */
export function nodeErrorFromWire(v: NodeErrorWire): NodeError {
  return new NodeError(v.code === "TUBULAR_ERR_NODE_INIT" ? "TUBULAR_ERR_NODE_INIT" : "TUBULAR_ERR_NODE_FAILED", {
    nodeId: v.node_id,
    ...(v.epoch !== undefined ? { epoch: v.epoch } : {}),
    errorType: v.err_type,
    errorMessage: v.message,
    stack: v.traceback,
  });
}
