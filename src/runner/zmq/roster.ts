/**
 * Roster: one record per runner process of a run, the only place the driver
 * keeps what it knows of a runner: its nodes, the host it runs on, its pid
 * and connection, what it said about itself, its status and restarts, and
 * how many epochs each of its nodes finished. A runner's death changes its
 * one record. Pure: no sockets, no clocks.
 */
import type { IdentifyValue } from "../../protocol/command-to-runner.ts";
import type { NodeStatus } from "../../protocol/common.ts";
import type { Placement, RunnerPlan } from "./placement.ts";

/**
 * Where a runner is in its life, as the driver sees it. `up` carries the
 * status the runner last reported (stopped, waiting, ready, running, closed).
 */
export type RunnerState =
  | { readonly kind: "starting" }
  | { readonly kind: "up"; readonly status: NodeStatus }
  | { readonly kind: "restarting"; readonly how: string }
  | { readonly kind: "dead"; readonly how: string };

/** What the command node reads from a runner's outbox. */
export type Reads = "values" | "done" | "probe";

export interface RunnerRecord {
  readonly id: string;
  readonly plan: RunnerPlan;
  /** The host agent it runs on; "driver" for this machine. */
  host: string;
  /** What it said about itself in its last identify (without the token). */
  identity: IdentifyValue | undefined;
  /** The inbox connection it identified on: its messages count only from there. */
  connection: string | undefined;
  /** Its subscription to the command outbox arrived: broadcasts reach it. */
  subscribed: boolean;
  state: RunnerState;
  restarts: number;
  /** Whether the driver's own nodes (the return node) read its values. */
  readonly feedsDriver: boolean;
  /**
   * No other runner reads from it. Runners pass on the completions they
   * hear, so the last runners of the graph carry everyone's: the command node
   * reads those (and the values it needs), and wakes up once per batch
   * rather than once per runner (bench/chain3-process-latency.bench.ts).
   */
  readonly sink: boolean;
  /** Epochs each of its nodes finished. */
  readonly epochs: Map<string, number>;
  /** The frames it dropped, by kind, as it last reported them (none reported: undefined). */
  drops: Record<string, number> | undefined;
}

export class Roster {
  private readonly records = new Map<string, RunnerRecord>();
  private readonly byConnection = new Map<string, RunnerRecord>();
  /** Epochs finished by the nodes the driver runs itself (the return node). */
  private readonly driverEpochs = new Map<string, number>();

  constructor(placement: Placement, upstreamOf: (nodeId: string) => readonly string[]) {
    const feedsDriver = new Set<string>();
    for (const id of placement.driverNodes) for (const up of upstreamOf(id)) feedsDriver.add(placement.runnerOf.get(up)!);
    const plans = [...placement.runners.values()];
    for (const plan of plans) {
      this.records.set(plan.id, {
        id: plan.id,
        plan,
        host: "driver",
        identity: undefined,
        connection: undefined,
        subscribed: false,
        state: { kind: "starting" },
        restarts: 0,
        feedsDriver: feedsDriver.has(plan.id),
        sink: !plans.some((p) => p.upstream.includes(plan.id)),
        epochs: new Map(plan.nodes.map((n) => [n, 0])),
        drops: undefined,
      });
    }
    for (const id of placement.driverNodes) this.driverEpochs.set(id, 0);
  }

  get(runnerId: string): RunnerRecord | undefined {
    return this.records.get(runnerId);
  }

  all(): IterableIterator<RunnerRecord> {
    return this.records.values();
  }

  ids(): string[] {
    return [...this.records.keys()];
  }

  /** The runner that identified on this connection, if any. */
  onConnection(connection: string): RunnerRecord | undefined {
    return this.byConnection.get(connection);
  }

  /** A runner identified on `connection`: from now on only that connection speaks for it. */
  bind(runnerId: string, connection: string): void {
    const r = this.records.get(runnerId)!;
    this.unbind(r);
    r.connection = connection;
    this.byConnection.set(connection, r);
  }

  /** A runner's subscription to the command outbox arrived: broadcasts reach it. */
  subscribed(runnerId: string): void {
    const r = this.records.get(runnerId);
    if (r) r.subscribed = true;
  }

  /** Records an identify; returns the previous identity (a restarted runner comes back at a new outbox). */
  identified(runnerId: string, identity: IdentifyValue): IdentifyValue | undefined {
    const r = this.records.get(runnerId)!;
    const previous = r.identity;
    r.identity = identity;
    if (r.state.kind !== "restarting") r.state = { kind: "up", status: identity.status };
    return previous;
  }

  /**
   * A runner reported its status. Returns true when this ends a restart (the
   * replacement is ready): epochs may go on.
   */
  reported(runnerId: string, status: NodeStatus): boolean {
    const r = this.records.get(runnerId)!;
    if (r.state.kind === "restarting" && status !== "ready") return false;
    const restarted = r.state.kind === "restarting";
    r.state = { kind: "up", status };
    return restarted;
  }

  /**
   * A runner died: its record forgets its connection, identity and
   * subscription, and says whether it is being restarted or dead.
   */
  down(runnerId: string, how: string, restarting: boolean): RunnerRecord | undefined {
    const r = this.records.get(runnerId);
    if (!r) return undefined;
    this.unbind(r);
    r.identity = undefined;
    r.subscribed = false;
    r.state = restarting ? { kind: "restarting", how } : { kind: "dead", how };
    return r;
  }

  /** A node finished an epoch. */
  countEpoch(runnerId: string | undefined, nodeId: string): void {
    const counts = (runnerId !== undefined && this.records.get(runnerId)?.epochs) || this.driverEpochs;
    counts.set(nodeId, (counts.get(nodeId) ?? 0) + 1);
  }

  /** Epochs a node of the driver's own finished. */
  driverEpochsOf(nodeId: string): number {
    return this.driverEpochs.get(nodeId) ?? 0;
  }

  isRestarting(runnerId: string): boolean {
    return this.records.get(runnerId)?.state.kind === "restarting";
  }

  /** Runners being restarted: epochs wait for them. */
  restarting(): string[] {
    return [...this.records.values()].filter((r) => r.state.kind === "restarting").map((r) => r.id);
  }

  /** The status a report shows for a runner. */
  static statusOf(r: RunnerRecord): NodeStatus | "restarting" | "unknown" {
    switch (r.state.kind) {
      case "starting":
        return "unknown";
      case "up":
        return r.state.status;
      case "restarting":
        return "restarting";
      case "dead":
        return "closed";
    }
  }

  /** Every identity, by runner id: what `announce` tells everyone. */
  identities(): Record<string, IdentifyValue> {
    const out: Record<string, IdentifyValue> = {};
    for (const r of this.records.values()) if (r.identity) out[r.id] = r.identity;
    return out;
  }

  private unbind(r: RunnerRecord): void {
    if (r.connection === undefined) return;
    this.byConnection.delete(r.connection);
    r.connection = undefined;
  }
}
