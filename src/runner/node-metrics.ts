/**
 * NodeMetrics: per-node figures measured where the nodes run (TaskPump, in a
 * node runner process or a LocalRunner): runs, errors, events emitted per
 * signal (so an edge's rate is a count of its events, not a guess from node
 * rates) and the process time of the most recent runs, for p50/p99.
 *
 * The hot path pays one clock read per run, an array store and a counter per
 * emitted event; percentiles are computed only when a report is asked for
 * (once per report interval), from a ring of the last WINDOW process times.
 */
import type { Emitted } from "../graph/scheduler.ts";

/** Process times kept per node for the percentiles: the most recent runs. */
const WINDOW = 512;

export interface NodeMetricsReport {
  /** Runs of the node (its process call returned or threw) since the runner started. */
  runs: number;
  errors: number;
  /** Events emitted, by signal, since the runner started. */
  events: Record<string, number>;
  /** Process time of the last runs (up to 512), milliseconds; null before the first run. */
  p50Ms: number | null;
  p99Ms: number | null;
}

class NodeCounter {
  runs = 0;
  errors = 0;
  readonly events = new Map<string, number>();
  private readonly times = new Float64Array(WINDOW);

  record(ms: number, emitted: readonly Emitted[] | undefined): void {
    this.times[this.runs % WINDOW] = ms;
    this.runs++;
    if (emitted === undefined) this.errors++;
    else for (const e of emitted) this.events.set(e.signal, (this.events.get(e.signal) ?? 0) + 1);
  }

  report(): NodeMetricsReport {
    const n = Math.min(this.runs, WINDOW);
    const sorted = this.times.slice(0, n).sort();
    // Nearest rank: the smallest value with at least q of the runs at or below it.
    const at = (q: number) => (n === 0 ? null : sorted[Math.max(0, Math.ceil(q * n) - 1)]!);
    return { runs: this.runs, errors: this.errors, events: Object.fromEntries(this.events), p50Ms: at(0.5), p99Ms: at(0.99) };
  }
}

export class NodeMetrics {
  private readonly nodes = new Map<string, NodeCounter>();

  /** A run of `nodeId` that took `ms` and emitted `emitted`; undefined `emitted`: it threw. */
  record(nodeId: string, ms: number, emitted: readonly Emitted[] | undefined): void {
    let c = this.nodes.get(nodeId);
    if (!c) this.nodes.set(nodeId, (c = new NodeCounter()));
    c.record(ms, emitted);
  }

  /** Total runs recorded, to tell whether anything changed since the last report. */
  get total(): number {
    let t = 0;
    for (const c of this.nodes.values()) t += c.runs;
    return t;
  }

  report(): Record<string, NodeMetricsReport> {
    const out: Record<string, NodeMetricsReport> = {};
    for (const [id, c] of this.nodes) out[id] = c.report();
    return out;
  }
}
