/**
 * JSON-RPC 2.0 messages, as zod schemas with inferred types, the standard and
 * application error codes, and the one place frames are encoded.
 *
 * The wire follows the reference JSON-RPC-over-WebSocket client: text frames,
 * one message or a batch per frame, string request ids (the reference client
 * treats a falsy id as "no id", so ids we originate are never 0 or "").
 */
import { z } from "zod";
import { InputError, NodeError, TubularError } from "../errors.ts";

export const JSONRPC = "2.0" as const;

/** Standard codes (JSON-RPC 2.0, section 5.1) and tubular's application codes (server range -32000..-32099). */
export const RpcCodes = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL_ERROR: -32603,
  /** A node threw: data carries node_id, epoch, error_type, error_message. */
  NODE_FAILED: -32000,
  /** Any other runtime failure: data.code is the TUBULAR_ERR_* code. */
  RUNTIME_ERROR: -32001,
  /** The tube, runner or subscription id is not one of this session's. */
  NOT_FOUND: -32002,
  /** The feature exists in the protocol but not in this server (e.g. a runner kind). */
  NOT_AVAILABLE: -32003,
  /** The session has too many calls in flight; retry later. */
  OVERLOADED: -32004,
  /** The graph given to tube.load is invalid: data carries file, path and reason. */
  SPEC_INVALID: -32005,
  /** The caller is not allowed to call this method. */
  FORBIDDEN: -32006,
  /** The result is larger than the server sends in one message: data carries bytes and max_bytes. */
  RESULT_TOO_LARGE: -32007,
} as const;

export const RpcId = z.union([z.string(), z.number()]);
export type RpcId = z.infer<typeof RpcId>;

/** By-name or by-position params, as the spec allows; tubular's own methods take by-name only. */
export const RpcParams = z.union([z.record(z.string(), z.unknown()), z.array(z.unknown())]);

export const RpcRequest = z.strictObject({
  jsonrpc: z.literal(JSONRPC),
  method: z.string(),
  params: RpcParams.optional(),
  id: z.union([RpcId, z.null()]).optional(),
});
export type RpcRequest = z.infer<typeof RpcRequest>;

export const RpcErrorObject = z.object({
  code: z.number().int(),
  message: z.string(),
  data: z.unknown().optional(),
});
export type RpcErrorObject = z.infer<typeof RpcErrorObject>;

export const RpcSuccess = z.object({
  jsonrpc: z.literal(JSONRPC),
  id: z.union([RpcId, z.null()]),
  result: z.unknown(),
});
export const RpcFailure = z.object({
  jsonrpc: z.literal(JSONRPC),
  id: z.union([RpcId, z.null()]),
  error: RpcErrorObject,
});
export type RpcSuccess = z.infer<typeof RpcSuccess>;
export type RpcFailure = z.infer<typeof RpcFailure>;
export type RpcResponse = RpcSuccess | RpcFailure;

/** The first frame a server sends: a response with no request, `id: null`, carrying the session id. */
export const SessionFrame = z.object({
  jsonrpc: z.literal(JSONRPC),
  id: z.null(),
  result: z.object({ session_id: z.string(), resumed: z.boolean().optional() }),
});

/**
 * A JSON-RPC error as a JS error: thrown by method handlers to reply with an
 * error, and rejected by clients when the peer replied with one. `rpcCode` is
 * the wire code; `code` stays in the TUBULAR_ERR_* registry.
 */
export class RpcError extends TubularError {
  readonly rpcCode: number;
  readonly data: unknown;

  constructor(rpcCode: number, message: string, data?: unknown, options?: { cause?: unknown }) {
    super("TUBULAR_ERR_RPC", message, { rpcCode, data }, options);
    this.name = "RpcError";
    this.rpcCode = rpcCode;
    this.data = data;
  }

  toWire(): RpcErrorObject {
    return this.data === undefined ? { code: this.rpcCode, message: this.message } : { code: this.rpcCode, message: this.message, data: this.data };
  }

  static fromWire(err: RpcErrorObject): RpcError {
    return new RpcError(err.code, err.message, err.data);
  }
}

/** Maps whatever a handler threw to the error object that goes on the wire. */
export function toRpcError(thrown: unknown): RpcError {
  if (thrown instanceof RpcError) return thrown;
  if (thrown instanceof NodeError) {
    return new RpcError(
      RpcCodes.NODE_FAILED,
      thrown.message,
      {
        code: thrown.code,
        node_id: thrown.nodeId,
        epoch: thrown.epoch ?? null,
        error_type: thrown.errorType,
        error_message: thrown.errorMessage,
      },
      { cause: thrown },
    );
  }
  if (thrown instanceof InputError) {
    // A bad input value is a bad param of the call: -32602, with the path to it.
    return new RpcError(
      RpcCodes.INVALID_PARAMS,
      `Invalid params: ${thrown.message}`,
      { code: thrown.code, issues: [{ path: ["input", thrown.input], code: "invalid_value", message: thrown.message }] },
      { cause: thrown },
    );
  }
  if (thrown instanceof TubularError) {
    const code = thrown.code.startsWith("TUBULAR_ERR_SPEC") ? RpcCodes.SPEC_INVALID : RpcCodes.RUNTIME_ERROR;
    return new RpcError(code, thrown.message, jsonSafe({ code: thrown.code, ...thrown.context }), { cause: thrown });
  }
  // Unknown failures are internal: the message goes out, the stack stays in the server's log.
  const message = thrown instanceof Error ? thrown.message : String(thrown);
  return new RpcError(RpcCodes.INTERNAL_ERROR, "Internal error", { message }, { cause: thrown });
}

function jsonSafe(value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined) continue;
    out[k] = v;
  }
  return out;
}

/** The replacer used for every frame: bigints become strings, typed arrays plain arrays, symbols (NoEvent) disappear. */
function replacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "symbol") return undefined;
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return Array.from(value as unknown as ArrayLike<number>);
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  return value;
}

/** The only JSON encoder of the bridge. Throws on values JSON cannot carry (cycles). */
export function encode(message: unknown): string {
  return JSON.stringify(message, replacer);
}

export function request(id: RpcId, method: string, params?: unknown): RpcRequest {
  return params === undefined ? { jsonrpc: JSONRPC, method, id } : { jsonrpc: JSONRPC, method, params: params as RpcRequest["params"], id };
}

export function notification(method: string, params?: unknown): RpcRequest {
  return params === undefined ? { jsonrpc: JSONRPC, method } : { jsonrpc: JSONRPC, method, params: params as RpcRequest["params"] };
}

export function success(id: RpcId | null, result: unknown): RpcSuccess {
  return { jsonrpc: JSONRPC, id, result: result === undefined ? null : result };
}

export function failure(id: RpcId | null, error: RpcErrorObject): RpcFailure {
  return { jsonrpc: JSONRPC, id, error };
}

/** The id of a message that failed validation, when it has a usable one; null otherwise (as the spec says). */
export function salvageId(message: unknown): RpcId | null {
  if (typeof message !== "object" || message === null || Array.isArray(message)) return null;
  const id = (message as { id?: unknown }).id;
  return typeof id === "string" || typeof id === "number" ? id : null;
}

const MAX_ISSUES = 20;
const clip = (s: string, max = 256): string => (s.length > max ? `${s.slice(0, max)}…` : s);

/** zod issues as JSON-RPC `data` for -32602: each with its path inside params. */
export function issuesData(error: z.ZodError): { issues: Array<{ path: Array<string | number>; code: string; message: string }>; more_issues?: number } {
  // The first issues say what is wrong; all of them would let a small request grow a large reply.
  const shown = error.issues.slice(0, MAX_ISSUES);
  const more = error.issues.length - shown.length;
  return {
    ...(more > 0 ? { more_issues: more } : {}),
    issues: shown.map((i) => ({
      path: i.path.map((p) => (typeof p === "symbol" ? String(p) : typeof p === "string" ? clip(p) : p)),
      code: i.code,
      message: clip(i.message),
    })),
  };
}
