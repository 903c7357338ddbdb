/**
 * NodeTable: one record per node of the runner processes, with what the
 * driver tracks of it apart from its runner's life (the roster's): whether
 * it was enabled or disabled at run time (a restarted runner is given that
 * with its init), a switch awaiting its runner's answer, and the last
 * figures the runner reported for it. It also serializes enableNode /
 * disableNode calls, the driver's own nodes included.
 */
import { NodeError, TubularError } from "../../errors.ts";
import type { Scheduler } from "../../graph/scheduler.ts";
import type { NodeMetricsReport } from "../node-metrics.ts";
import { makeMessage } from "../../protocol/message.ts";
import { COMMAND_ID, type CommandNode } from "./command-node.ts";
import type { Conditions } from "./conditions.ts";
import type { Placement } from "./placement.ts";
import type { Roster } from "./roster.ts";

export type ReceivedMetrics = NodeMetricsReport & { receivedAt: number };

export interface NodeTableDeps {
  readonly placement: Placement;
  readonly scheduler: Pick<Scheduler, "setEnabled">;
  readonly roster: Roster;
  readonly conditions: Conditions;
  readonly initTimeoutMs: number;
  command(): Pick<CommandNode, "broadcast"> | undefined;
  /** The run was deinitialized: a switch waiting for its answer ends. */
  closed(): boolean;
  /** The run's failure, if it failed: a switch then fails with it. */
  failure(): Error | undefined;
  /** Creates a node the driver runs itself (the return node), if it is not yet. */
  createOnDriver(id: string): Promise<void>;
}

/** One node of a runner process, as the driver tracks it. */
export interface NodeRecord {
  readonly id: string;
  /** Its runner process. */
  readonly runner: string;
  /** Enabled or disabled at run time; undefined: as the graph file says. */
  enabled: boolean | undefined;
  /** A switch sent to its runner and not yet over: the runner's answer, and its failure to create the node. */
  pending: { answer: boolean | undefined; failure: NodeError | undefined } | undefined;
  /** The last figures its runner reported (its `node_metrics` message). */
  metrics: ReceivedMetrics | undefined;
}

export class NodeTable {
  private readonly records = new Map<string, NodeRecord>();
  /** enableNode / disableNode calls, one at a time. */
  private switching: Promise<void> = Promise.resolve();

  constructor(private readonly deps: NodeTableDeps) {
    for (const plan of deps.placement.runners.values()) {
      for (const id of plan.nodes) this.records.set(id, { id, runner: plan.id, enabled: undefined, pending: undefined, metrics: undefined });
    }
  }

  /** The run-time switches so far, for a restarted runner's init. */
  switches(): ReadonlyMap<string, boolean> {
    const out = new Map<string, boolean>();
    for (const r of this.records.values()) if (r.enabled !== undefined) out.set(r.id, r.enabled);
    return out;
  }

  /**
   * Enables or disables node `id` from the next epoch, after the switches
   * asked before it. The driver's own nodes (the return node) switch here. A
   * node in a runner process switches there, with an `enable` message: the
   * call resolves once that runner answers, so every epoch opened afterwards
   * sees the change whichever socket its events come in on.
   */
  switch(id: string, enabled: boolean, call: string): Promise<void> {
    const done = this.switching.then(async () => {
      const failed = this.deps.failure();
      if (failed) throw failed;
      const record = this.records.get(id);
      if (record === undefined) {
        if (enabled) await this.deps.createOnDriver(id);
      } else await this.switchOn(record, enabled, call);
      this.deps.scheduler.setEnabled(id, enabled);
    });
    this.switching = done.catch(() => undefined);
    return done;
  }

  /**
   * Switches a node of a runner process with an `enable` message; resolves once
   * that runner answers (or is being restarted: it gets the switch with its
   * init), rejects when it could not create the node.
   */
  private async switchOn(record: NodeRecord, enabled: boolean, call: string): Promise<void> {
    const { conditions, roster } = this.deps;
    const { id, runner } = record;
    const pending: NonNullable<NodeRecord["pending"]> = { answer: undefined, failure: undefined };
    record.enabled = enabled;
    record.pending = pending;
    this.deps.command()!.broadcast(makeMessage("enable", COMMAND_ID, { node: id, enabled }));
    try {
      // A runner being restarted gets the change with its init (rejoin) and runs no epoch before.
      await conditions.until(call, () => pending.answer !== undefined || roster.isRestarting(runner) || this.deps.closed(), Date.now() + this.deps.initTimeoutMs, () => `the runner process of node ${id} did not confirm the change`);
    } finally {
      record.pending = undefined;
    }
    if (this.deps.closed()) throw new TubularError("TUBULAR_ERR_RUNNER_STATE", `${call}(): the runner was deinitialized`);
    if (pending.answer === false && enabled) {
      record.enabled = undefined;
      throw pending.failure ?? new NodeError("TUBULAR_ERR_NODE_INIT", { nodeId: id, errorType: "Error", errorMessage: "its runner could not create it" });
    }
  }

  /** The hosting runner answered an `enable`: the node is now `enabled`. */
  answered(id: string, enabled: boolean): void {
    const pending = this.records.get(id)?.pending;
    if (pending) pending.answer = enabled;
  }

  /** A failure outside any epoch: true when it is a switched-on node's that could not be created (its switch rejects with it). */
  creationFailed(id: string, err: NodeError): boolean {
    const pending = this.records.get(id)?.pending;
    if (!pending) return false;
    pending.failure = err;
    return true;
  }

  /** A runner reported a node's figures. */
  metrics(id: string, m: NodeMetricsReport, receivedAt: number): void {
    const r = this.records.get(id);
    if (r) r.metrics = { ...m, receivedAt };
  }

  /** The node's last reported figures, if any. */
  metricsOf(id: string): ReceivedMetrics | undefined {
    return this.records.get(id)?.metrics;
  }
}
