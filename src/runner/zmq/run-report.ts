/**
 * RunReport: what a run says about itself, read from the parts that know it:
 * the roster (runners, their status, restarts and epochs), the host side, the
 * node table (each node's last figures) and the processes (pids). Nothing
 * here changes the run.
 */
import type { NodeStatus } from "../../protocol/common.ts";
import type { RunStatus } from "../../protocol/status-report.ts";
import type { NodeMetricsReport } from "../node-metrics.ts";
import type { RunnerState } from "../runner.ts";
import type { Bootstrap } from "./bootstrap.ts";
import type { HostSide } from "./host-side.ts";
import type { NodeTable } from "./node-table.ts";
import type { Placement } from "./placement.ts";
import { Roster } from "./roster.ts";

export interface ZmqRunnerStats {
  /** Frames the command node dropped, by kind. */
  drops: Record<string, number>;
  /** Each runner process; `drops`: the frames it dropped, by kind, once it reported any. */
  runners: Record<string, { pid: number | undefined; status: NodeStatus | "unknown"; nodes: readonly string[]; drops?: Record<string, number> }>;
  epochsCompleted: number;
  /** CurveZMQ connections accepted and refused by this process's ZAP handler (with `keys`). */
  auth?: { accepted: number; refused: number };
}

export interface RunReportDeps {
  readonly placement: Placement;
  readonly roster: Roster;
  readonly hostSide: HostSide;
  readonly nodes: NodeTable;
  readonly boot: Bootstrap;
}

export class RunReport {
  constructor(private readonly deps: RunReportDeps) {}

  /** Pids of the runner processes, by runner id. */
  pids(): Record<string, number | undefined> {
    const out: Record<string, number | undefined> = {};
    for (const id of this.deps.placement.runners.keys()) out[id] = this.pidOf(id);
    return out;
  }

  /** `driverMetrics`: the figures of the nodes the driver runs itself. */
  status(state: RunnerState, driverMetrics: Record<string, NodeMetricsReport>, epochsCompleted: number): RunStatus {
    const { roster, placement } = this.deps;
    const now = Date.now();
    const nodes: RunStatus["nodes"] = {};
    for (const r of roster.all()) {
      const rss = r.host === "driver" ? undefined : this.deps.hostSide.runnerMemory(r.host, r.id);
      for (const node of r.plan.nodes) {
        const metrics = this.deps.nodes.metricsOf(node);
        nodes[node] = { runner: r.id, host: r.host, pid: this.pidOf(r.id) ?? null, status: Roster.statusOf(r), restarts: r.restarts, epochs: r.epochs.get(node) ?? 0, ...(rss !== undefined ? { rss_bytes: rss } : {}), ...(metrics ? { metrics } : {}) };
      }
    }
    for (const node of placement.driverNodes) nodes[node] = { runner: "command", host: "driver", pid: process.pid, status: state === "closed" ? "closed" : "ready", restarts: 0, epochs: roster.driverEpochsOf(node), ...(driverMetrics[node] ? { metrics: { ...driverMetrics[node], receivedAt: now } } : {}) };
    return { state, hosts: this.deps.hostSide.report(now), nodes, epochsCompleted };
  }

  stats(epochsCompleted: number): ZmqRunnerStats {
    const { boot } = this.deps;
    const runners: ZmqRunnerStats["runners"] = {};
    for (const r of this.deps.roster.all()) {
      const status = Roster.statusOf(r);
      runners[r.id] = { pid: this.pidOf(r.id), status: status === "restarting" ? "closed" : status, nodes: r.plan.nodes, ...(r.drops ? { drops: r.drops } : {}) };
    }
    return { drops: boot.command?.codec.drops.stats() ?? {}, runners, epochsCompleted, ...(boot.zap ? { auth: boot.zap.stats() } : {}) };
  }

  private pidOf(runnerId: string): number | undefined {
    const local = this.deps.boot.processes?.pid(runnerId);
    if (local !== undefined) return local;
    return this.deps.roster.get(runnerId)?.identity?.pid;
  }
}
