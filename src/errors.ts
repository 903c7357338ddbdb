/**
 * The one registry of tubular's errors. Every error the library throws is a
 * `TubularError` whose `code` is one of `ErrorCodes`, with the context a user
 * needs to act on it (file and path for config errors, node id and epoch for
 * node failures). `test/unit/errors.test.ts` keeps the codes unique and
 * documented in docs/errors.md.
 */

export const ErrorCodes = {
  TUBULAR_ERR_SPEC_READ: "a graph file could not be read or parsed",
  TUBULAR_ERR_SPEC_INVALID: "a graph file does not match the graph format",
  TUBULAR_ERR_SPEC_UNKNOWN_TYPE: "a node's type is neither built in nor an importable module export",
  TUBULAR_ERR_SPEC_MISSING_REF: "a dependency names a node, signal or input that does not exist",
  TUBULAR_ERR_SPEC_CYCLE: "the graph's edges form a cycle",
  TUBULAR_ERR_SPEC_RETURN: "the graph has more than one return node",
  TUBULAR_ERR_SPEC_SCOPE: "an input or a map's values are used where their scope does not allow it",
  TUBULAR_ERR_INPUT_MISSING: "a required tube or process input was not given",
  TUBULAR_ERR_INPUT_INVALID: "an input value does not match its declared type",
  TUBULAR_ERR_NODE_DEFINITION: "a node definition is malformed",
  TUBULAR_ERR_NODE_FAILED: "a node threw while processing an epoch",
  TUBULAR_ERR_NODE_INIT: "a node threw while being initialized",
  TUBULAR_ERR_SOURCE_ENDED: "a source node has no more values (its generator returned)",
  TUBULAR_ERR_RUNNER_STATE: "a runner method was called in a state that does not allow it",
  TUBULAR_ERR_RUNNER_TIMEOUT: "the runner did not get an answer in time",
  TUBULAR_ERR_RUNNER_OPTIONS: "a runner option is invalid",
  TUBULAR_ERR_RUNNER_DIED: "a node runner process died",
  TUBULAR_ERR_UNKNOWN_NODE: "a runner call named a node the graph does not have",
  TUBULAR_ERR_PROTOCOL: "a message could not be decoded or failed its schema",
  TUBULAR_ERR_FRAME_TOO_LARGE: "a message is larger than the frame size limit",
  TUBULAR_ERR_TRANSPORT: "a socket could not bind or connect, or an address is invalid",
  TUBULAR_ERR_KEY: "a CurveZMQ key or key file is missing or malformed",
  TUBULAR_ERR_HOST: "a host agent could not be reached or refused work",
  TUBULAR_ERR_AUTH: "a peer's key or API key was refused",
  TUBULAR_ERR_RPC: "a JSON-RPC call failed",
  TUBULAR_ERR_STORE: "the registry's database could not be opened, migrated or used",
  TUBULAR_ERR_REGISTRY_BAD_REQUEST: "a job registry request was refused: bad body, bad inputs or a transition the run's state does not allow",
  TUBULAR_ERR_REGISTRY_NOT_FOUND: "a job registry request named a definition, run or worker that does not exist",
  TUBULAR_ERR_REGISTRY_UNREACHABLE: "the job registry server did not answer, or answered with an error",
  TUBULAR_ERR_TRACKING_BAD_REQUEST: "a run tracking request was refused: a body that fails its schema",
  TUBULAR_ERR_TRACKING_NOT_FOUND: "a run tracking request named a project or run that does not exist",
  TUBULAR_ERR_AGENT_PROTOCOL: "a worker of the WebSocket worker registry sent a frame that is not a worker message",
  TUBULAR_ERR_AGENT_UNREACHABLE: "a WebSocket host agent could not connect or register after all its retries",
  TUBULAR_ERR_PLOT: "a metric plot could not be drawn or written",
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export interface ErrorContext {
  file?: string;
  path?: string;
  nodeId?: string;
  epoch?: unknown;
  [key: string]: unknown;
}

export class TubularError extends Error {
  readonly code: ErrorCode;
  readonly context: ErrorContext;

  constructor(code: ErrorCode, message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "TubularError";
    this.code = code;
    this.context = context;
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, ...this.context };
  }
}

/** A graph file (or spec object) is wrong: names the file, the path inside it and the reason. */
export class SpecError extends TubularError {
  readonly file: string;
  readonly path: string;
  readonly reason: string;

  constructor(code: ErrorCode, file: string, path: string, reason: string, options?: { cause?: unknown }) {
    super(code, `${file}: ${path || "(root)"}: ${reason}`, { file, path }, options);
    this.name = "SpecError";
    this.file = file;
    this.path = path;
    this.reason = reason;
  }
}

/** A required input is missing or invalid; raised before any node runs, consuming no epoch. */
export class InputError extends TubularError {
  readonly input: string;
  constructor(code: "TUBULAR_ERR_INPUT_MISSING" | "TUBULAR_ERR_INPUT_INVALID", input: string, reason: string) {
    super(code, `input "${input}": ${reason}`, { input });
    this.name = "InputError";
    this.input = input;
  }
}

/**
 * A node threw. Carries the node id, the epoch, the original error's type and
 * message, and its stack (from the process that ran the node, which may be remote).
 */
export class NodeError extends TubularError {
  readonly nodeId: string;
  readonly epoch: unknown;
  readonly errorType: string;
  readonly errorMessage: string;
  readonly remoteStack: string | undefined;

  constructor(
    code: "TUBULAR_ERR_NODE_FAILED" | "TUBULAR_ERR_NODE_INIT" | "TUBULAR_ERR_RUNNER_DIED" | "TUBULAR_ERR_SOURCE_ENDED",
    info: { nodeId: string; epoch?: unknown; errorType: string; errorMessage: string; stack?: string },
    options?: { cause?: unknown },
  ) {
    const where = info.epoch === undefined ? `node "${info.nodeId}"` : `node "${info.nodeId}" at epoch ${JSON.stringify(info.epoch)}`;
    super(code, `${where}: ${info.errorType}: ${info.errorMessage}`, { nodeId: info.nodeId, epoch: info.epoch }, options);
    this.name = "NodeError";
    this.nodeId = info.nodeId;
    this.epoch = info.epoch;
    this.errorType = info.errorType;
    this.errorMessage = info.errorMessage;
    this.remoteStack = info.stack;
    if (info.stack) this.stack = `${this.name}: ${this.message}\n--- stack of the node's process ---\n${info.stack}`;
  }

  /** Wrap whatever a node threw. */
  static from(nodeId: string, epoch: unknown, thrown: unknown, code: "TUBULAR_ERR_NODE_FAILED" | "TUBULAR_ERR_NODE_INIT" = "TUBULAR_ERR_NODE_FAILED"): NodeError {
    if (thrown instanceof NodeError) return thrown;
    const err = thrown instanceof Error ? thrown : new Error(String(thrown));
    return new NodeError(code, { nodeId, epoch, errorType: err.name || "Error", errorMessage: err.message, stack: err.stack }, { cause: thrown });
  }
}

/**
 * A runner process died (or became unreachable) while it held these nodes.
 * A NodeError (code TUBULAR_ERR_RUNNER_DIED) whose `nodeId` is the first of
 * `nodeIds`; `nodeIds` names every node the process held.
 */
export class RunnerDiedError extends NodeError {
  readonly nodeIds: readonly string[];

  constructor(info: { nodeIds: readonly string[]; epoch?: unknown; how: string }) {
    super("TUBULAR_ERR_RUNNER_DIED", { nodeId: info.nodeIds[0] ?? "", ...(info.epoch !== undefined ? { epoch: info.epoch } : {}), errorType: "RunnerDied", errorMessage: info.how });
    this.name = "RunnerDiedError";
    this.nodeIds = [...info.nodeIds];
    if (this.nodeIds.length > 1) {
      const where = info.epoch === undefined ? "" : ` at epoch ${JSON.stringify(info.epoch)}`;
      this.message = `nodes ${this.nodeIds.map((n) => `"${n}"`).join(", ")}${where}: RunnerDied: ${info.how}`;
    }
  }
}
