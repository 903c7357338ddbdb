/**
 * The contract every runner keeps: LocalRunner runs a tube in this process,
 * ZmqRunner across processes and hosts. Same calls, same results.
 */
import type { TubeEvent } from "../graph/event.ts";
import type { NodeMetric } from "../node/metrics.ts";

export type { TubeEvent };

export interface EpochResult {
  readonly epoch: number;
  /** The return node's value; null when it had nothing. */
  readonly value: unknown;
}

export type RunnerState = "created" | "initializing" | "ready" | "running" | "stopping" | "closed" | "failed";

export interface RunnerEvents {
  event: (event: TubeEvent) => void;
  epoch: (result: EpochResult) => void;
  error: (error: Error) => void;
  /** A node called `ctx.log` (in this process or, for ZmqRunner, in a runner process). */
  metric: (metric: NodeMetric) => void;
}

export interface Runner {
  readonly state: RunnerState;
  /** The source node whose generator returned, once one has (free-run then ends cleanly). */
  readonly sourceEnded?: string | undefined;
  /** Instantiates every node; resolves when all are ready to process. */
  init(): Promise<void>;
  /** Runs one epoch with this process-scoped input; resolves with the return value (null when none). */
  process(input?: Record<string, unknown>): Promise<unknown>;
  /** Runs `n` epochs (unbounded when omitted), yielding the return value of each epoch that has one. */
  iter(n?: number, inputs?: Iterable<Record<string, unknown>>): AsyncIterable<unknown>;
  /**
   * Free-runs `n` epochs, or until `stop()` when `n` is omitted, and resolves
   * with the results of the epochs run (or rejects with the first node error).
   */
  run(n?: number): Promise<EpochResult[]>;
  /**
   * Starts free-run without waiting: `n` epochs, or until `stop()`. Rejects
   * when the free-run fails before it returns; a later failure rejects `stop()`.
   */
  start(n?: number): Promise<void>;
  /**
   * Stops free-run after the epochs in flight; nodes stay initialized.
   * Rejects with the failure of a free-run begun by `start()`.
   */
  stop(): Promise<void>;
  /** Node ids that run now (not disabled in the graph file or by `disableNode`), in graph order. */
  enabledNodes(): string[];
  /**
   * Skips a node from the next epoch it is scheduled in, as if it were disabled
   * in the graph file: nodes that need its signals skip too. Resolves once that
   * holds on every process; rejects with TUBULAR_ERR_UNKNOWN_NODE for a node the
   * graph does not have, TUBULAR_ERR_RUNNER_STATE before init or after deinit.
   */
  disableNode(id: string): Promise<void>;
  /** Runs a node again from the next epoch it is scheduled in, creating it first when it was disabled in the graph file. */
  enableNode(id: string): Promise<void>;
  /** Releases every node; the runner cannot be used afterwards. */
  deinit(): Promise<void>;
  /**
   * Resolves once the runner can no longer be used: with the failure that
   * ended it, or undefined after a clean `deinit()`. Never rejects.
   */
  closed(): Promise<Error | undefined>;
  on<K extends keyof RunnerEvents>(name: K, listener: RunnerEvents[K]): this;
  off<K extends keyof RunnerEvents>(name: K, listener: RunnerEvents[K]): this;
}
