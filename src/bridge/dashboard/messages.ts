/**
 * The dashboard's live feed: what the browser sends (one message, `auth`,
 * checked with zod) and what the server sends (JSON, typed here once; the
 * browser code imports these types). Version 1.
 *
 * Server -> browser, in order: `hello` (whether a key is needed), then after
 * a good key (or at once without keys) `graphs` (the static part of every
 * watched run: nodes, edges, params) and `state` (statuses, rates, errors,
 * hosts, runner processes). `graphs` is sent again only when runs come or
 * go; `state` only when something in it changed.
 */
import { z } from "zod";

export const DASHBOARD_WS_PATH = "/ws/v0/dashboard";
export const FEED_VERSION = 1;

/** WebSocket close code for a refused key (4000-4999: application codes). */
export const CLOSE_BAD_KEY = 4401;
/** WebSocket close code for a malformed first message. */
export const CLOSE_BAD_MESSAGE = 4400;

/** Tracked runs a viewer plots at once. */
export const MAX_CHOSEN_RUNS = 8;

export const ClientMessage = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("auth"), key: z.string().min(1).max(4096) }),
  /** After a good key: the tracked runs whose metrics this viewer plots (replaces the previous choice). */
  z.strictObject({ type: z.literal("chooseRuns"), runs: z.array(z.string().min(1).max(200)).max(MAX_CHOSEN_RUNS) }),
]);
export type ClientMessage = z.infer<typeof ClientMessage>;

export interface NodeView {
  readonly id: string;
  /** "input" for a tube input drawn as a source. */
  readonly kind: "node" | "input";
  readonly type: string;
  readonly params: Record<string, unknown>;
  readonly slots: readonly string[];
  readonly signals: readonly string[];
  readonly group?: string;
  readonly host?: string;
  readonly restart?: string;
}

export interface EdgeView {
  readonly id: string;
  readonly from: string;
  readonly signal: string;
  readonly to: string;
  readonly slot: string;
}

export interface GraphView {
  readonly runId: string;
  readonly label: string;
  readonly tubeId: string;
  readonly kind: string;
  readonly nodes: readonly NodeView[];
  readonly edges: readonly EdgeView[];
}

export interface ErrorView {
  readonly code: string;
  readonly type: string;
  readonly message: string;
  readonly epoch: unknown;
  /** ms since the epoch (wall clock) */
  readonly at: number;
}

export type NodeStatusView = "waiting" | "ready" | "running" | "failed" | "restarting" | "stopped" | "closed" | "unknown";

export interface NodeState {
  readonly status: NodeStatusView;
  readonly runner: string | null;
  readonly host: string | null;
  readonly pid: number | null;
  readonly restarts: number;
  /** Epochs this node has run, as the runtime counts them (null when the runner does not report it). */
  readonly epochs: number | null;
  readonly epochsPerSec: number | null;
  /** Process time of the node's recent runs (up to 512), measured where it runs, ms; null before a report. */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  /** Runs of the node that threw, as counted where it runs (or errors heard, where the runner reports no figures). */
  readonly errors: number;
  readonly error?: ErrorView;
}

export interface HostState {
  readonly name: string;
  readonly labels: readonly string[];
  readonly cpus: number;
  readonly memoryTotal: number;
  readonly memoryFree: number;
  readonly load: readonly number[];
  readonly alive: boolean;
  readonly runners: number;
}

export interface RunnerProcessState {
  readonly id: string;
  readonly host: string;
  readonly pid: number | null;
  readonly nodes: readonly string[];
  readonly status: NodeStatusView;
  readonly restarts: number;
  /** Resident memory, bytes: read here for local runners, reported by the host agent for its runners; null where neither can read it. */
  readonly rssBytes: number | null;
}

export interface RunState {
  readonly runId: string;
  readonly state: string;
  readonly epochsCompleted: number;
  readonly epochsPerSec: number | null;
  readonly nodes: Record<string, NodeState>;
  /** Events per second on each edge (by EdgeView id), from the events counted where they are emitted; null when unknown. */
  readonly edges: Record<string, number | null>;
  readonly hosts: readonly HostState[];
  readonly runners: readonly RunnerProcessState[];
  readonly lastError?: ErrorView;
}

/** A run of the job registry, as its table shows it. */
export interface JobRunView {
  readonly id: string;
  /** The definition's name@version, the graph file, or "inline graph". */
  readonly name: string;
  readonly state: string;
  /** 0..100 */
  readonly progress: number;
  readonly worker: string | null;
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly error: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface JobEventView {
  readonly id: number;
  readonly type: string;
  readonly t: number;
  readonly msg: string | number;
  readonly state: string;
}

/** A run of run tracking, as its list shows it. */
export interface TrackedRunView {
  readonly id: string;
  readonly project: string;
  readonly name: string;
  readonly status: string;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** One logged value of a metric, at its step (numbers only: what a chart plots). */
export interface MetricPoint {
  readonly name: string;
  readonly step: number;
  readonly value: number;
}

export type ServerMessage =
  | { readonly type: "hello"; readonly version: number; readonly mode: "serve" | "run"; readonly auth: boolean; readonly jobs: boolean; readonly tracking: boolean }
  /** The newest tracked runs (sent when the list changed). */
  | { readonly type: "tracked"; readonly runs: readonly TrackedRunView[] }
  /** Metric points of a chosen tracked run: all kept (`reset`, on choosing it) or those logged since. */
  | { readonly type: "metrics"; readonly runId: string; readonly reset: boolean; readonly points: readonly MetricPoint[] }
  | { readonly type: "jobs"; readonly runs: readonly JobRunView[] }
  /** New events of one registry run (all those kept, for a viewer that just came). */
  | { readonly type: "jobEvents"; readonly runId: string; readonly events: readonly JobEventView[] }
  | { readonly type: "graphs"; readonly graphs: readonly GraphView[] }
  | { readonly type: "state"; readonly at: number; readonly runs: readonly RunState[] };
