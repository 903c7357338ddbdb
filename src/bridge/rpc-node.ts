/**
 * The `rpc` node type: a node that lives in a bridge client. Its params name
 * a callable the client registered (`params: { callable: NAME, timeout?: s }`);
 * each epoch it sends `run_callable { callable_id, args, kwargs }` to that
 * client, with the node's inputs as `kwargs`, and the reply's `data` becomes
 * the node's `value` signal.
 *
 * Two ways to reach the client:
 * - in the bridge's own process (LocalRunner), through the session directly
 *   (`rpcNodeType(invoke)`);
 * - in a node runner process (ZmqRunner), by the module export `rpc`, which
 *   connects back to the bridge with a relay token the bridge put in the
 *   node's params (`__bridge: { url, token }`); the token is bound to one
 *   session and allows one method, `callables.invoke`.
 *
 * A client that is gone, errs, or does not answer in time makes the node
 * fail with a CallableError naming the callable; nothing waits forever.
 */
import { fileURLToPath } from "node:url";
import { z } from "zod";
import type { NodeDefinition, NodeInstance } from "../node/definition.ts";
import { TubularClient } from "./client.ts";

/** Runs a callable in the client; resolves with the reply's `data`. */
export type CallableInvoker = (callable: string, args: unknown[], kwargs: Record<string, unknown>, timeoutMs: number) => Promise<unknown>;

export const DEFAULT_CALLABLE_TIMEOUT_S = 300;

export const RpcNodeParams = z.object({
  callable: z.string().min(1),
  /** Seconds without a reply (or heartbeat) before the node fails. */
  timeout: z.number().positive().optional(),
  __bridge: z.object({ url: z.string(), token: z.string() }).optional(),
});
export type RpcNodeParams = z.infer<typeof RpcNodeParams>;

/** The error an rpc node fails with; its message names the callable. */
export class CallableError extends Error {
  readonly callable: string;
  constructor(callable: string, reason: string, options?: { cause?: unknown }) {
    super(`callable "${callable}": ${reason}`, options);
    this.name = "CallableError";
    this.callable = callable;
  }
}

function parseParams(params: Record<string, unknown>): RpcNodeParams {
  const parsed = RpcNodeParams.safeParse(params);
  if (!parsed.success) throw new TypeError(`an rpc node needs params { callable: NAME }: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return parsed.data;
}

/** Checks an ok reply of run_callable (`{ message: "Ok", data }`) and returns its data. */
export function replyData(callable: string, reply: unknown): unknown {
  if (typeof reply !== "object" || reply === null || (reply as { message?: unknown }).message !== "Ok") {
    throw new CallableError(callable, `the client's reply is not { "message": "Ok", "data": ... }: ${JSON.stringify(reply)?.slice(0, 200)}`);
  }
  return (reply as { data?: unknown }).data;
}

function makeInstance(params: RpcNodeParams, invoke: CallableInvoker, deinit?: () => Promise<void>): NodeInstance {
  const timeoutMs = (params.timeout ?? DEFAULT_CALLABLE_TIMEOUT_S) * 1000;
  return {
    async process(inputs) {
      // Params other than the node's own reach the callable too (the runtime passes params as constant slots).
      const { callable: _c, timeout: _t, __bridge: _b, ...kwargs } = inputs;
      return invoke(params.callable, [], kwargs, timeoutMs);
    },
    ...(deinit ? { deinit } : {}),
  };
}

const shape = {
  kind: "tubular.node" as const,
  slots: "any" as const,
  signals: ["value"],
  stateful: false,
};

/** The rpc node type bound to an invoker in this process. */
export function rpcNodeType(invoke: CallableInvoker): NodeDefinition {
  return Object.freeze({
    ...shape,
    create(params: Record<string, unknown>) {
      return makeInstance(parseParams(params), invoke);
    },
  });
}

/** The rpc node type for a node runner process: reaches the client through the bridge with the relay token in its params. */
export const rpc: NodeDefinition = Object.freeze({
  ...shape,
  async create(params: Record<string, unknown>) {
    const p = parseParams(params);
    if (!p.__bridge) throw new TypeError(`rpc node for callable "${p.callable}" runs outside the bridge but has no relay address`);
    const client = new TubularClient(p.__bridge.url, { reconnect: false });
    await client.connect(p.__bridge.token, { retries: 3, delay: 0.2 });
    const invoke: CallableInvoker = async (callable, args, kwargs, timeoutMs) => {
      try {
        return await client.call("callables.invoke", { callable, args, kwargs }, { timeout: timeoutMs / 1000 });
      } catch (err) {
        if (err instanceof CallableError) throw err;
        const e = err as Error & { data?: { reason?: string } };
        throw new CallableError(callable, e.data?.reason ?? e.message, { cause: err });
      }
    };
    return makeInstance(p, invoke, () => client.close());
  },
});

/** The module type name a node runner process resolves `rpc` nodes by: this file's absolute path and export. */
export const RPC_MODULE_TYPE = `${fileURLToPath(import.meta.url)}#rpc`;
