/**
 * NodeTable: what the driver tracks per node of the runner processes, apart
 * from the runner it lives in (the roster's): whether it was enabled or
 * disabled at run time (a restarted runner is given that with its init), a
 * switch awaiting its runner's answer, and the last figures the runner
 * reported for it.
 */
import { NodeError, TubularError } from "../../errors.ts";
import type { Scheduler } from "../../graph/scheduler.ts";
import type { NodeMetricsReport } from "../node-metrics.ts";
import { makeMessage } from "../../protocol/message.ts";
import { COMMAND_ID, type CommandNode } from "./command-node.ts";
import type { Conditions } from "./conditions.ts";
import { DRIVER, type Placement } from "./placement.ts";
import type { Roster } from "./roster.ts";

export type ReceivedMetrics = NodeMetricsReport & { receivedAt: number };

export interface NodeTableDeps {
  readonly placement: Placement;
  readonly scheduler: Scheduler;
  readonly roster: Roster;
  readonly conditions: Conditions;
  readonly initTimeoutMs: number;
  command(): CommandNode | undefined;
  /** The run was deinitialized: a switch waiting for its answer ends. */
  closed(): boolean;
  /** The run's failure, if it failed: a switch then fails with it. */
  failure(): Error | undefined;
  /** Creates a node the driver runs itself (the return node), if it is not yet. */
  createOnDriver(id: string): Promise<void>;
}

export class NodeTable {
  /** Nodes enabled or disabled at run time: a restarted runner is given them with its init. */
  private readonly enabledNow = new Map<string, boolean>();
  /** A hosting runner's answer to `enable`, per node, while one is awaited; and a failure to create the node. */
  private readonly enableAnswers = new Map<string, boolean>();
  private readonly enableFailures = new Map<string, NodeError>();
  private readonly enablePending = new Set<string>();
  /** The last per-node figures each runner reported (its `node_metrics` message), by node. */
  private readonly metricsByNode = new Map<string, ReceivedMetrics>();
  /** enableNode / disableNode calls, one at a time. */
  private switching: Promise<void> = Promise.resolve();

  constructor(private readonly deps: NodeTableDeps) {}

  /** The run-time switches so far, for a restarted runner's init. */
  switches(): ReadonlyMap<string, boolean> {
    return this.enabledNow;
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
      const runner = this.deps.placement.runnerOf.get(id)!;
      if (runner === DRIVER) {
        if (enabled) await this.deps.createOnDriver(id);
      } else await this.switchOn(runner, id, enabled, call);
      this.deps.scheduler.setEnabled(id, enabled);
    });
    this.switching = done.catch(() => undefined);
    return done;
  }

  /**
   * Switches a node of runner `runner` with an `enable` message; resolves once
   * that runner answers (or is being restarted: it gets the switch with its
   * init), rejects when it could not create the node.
   */
  private async switchOn(runner: string, id: string, enabled: boolean, call: string): Promise<void> {
    const { conditions, roster } = this.deps;
    this.enableAnswers.delete(id);
    this.enableFailures.delete(id);
    this.enabledNow.set(id, enabled);
    this.enablePending.add(id);
    this.deps.command()!.broadcast(makeMessage("enable", COMMAND_ID, { node: id, enabled }));
    try {
      // A runner being restarted gets the change with its init (rejoin) and runs no epoch before.
      await conditions.until(call, () => this.enableAnswers.has(id) || roster.isRestarting(runner) || this.deps.closed(), Date.now() + this.deps.initTimeoutMs, () => `the runner process of node ${id} did not confirm the change`);
    } finally {
      this.enablePending.delete(id);
    }
    if (this.deps.closed()) throw new TubularError("TUBULAR_ERR_RUNNER_STATE", `${call}(): the runner was deinitialized`);
    const failure = this.enableFailures.get(id);
    this.enableFailures.delete(id);
    if (this.enableAnswers.get(id) === false && enabled) {
      this.enabledNow.delete(id);
      throw failure ?? new NodeError("TUBULAR_ERR_NODE_INIT", { nodeId: id, errorType: "Error", errorMessage: "its runner could not create it" });
    }
  }

  /** The hosting runner answered an `enable`: the node is now `enabled`. */
  answered(id: string, enabled: boolean): void {
    this.enableAnswers.set(id, enabled);
  }

  /** A failure outside any epoch: true when it is a switched-on node's that could not be created (its switch rejects with it). */
  creationFailed(id: string, err: NodeError): boolean {
    if (!this.enablePending.has(id)) return false;
    this.enableFailures.set(id, err);
    return true;
  }

  /** A runner reported a node's figures. */
  metrics(id: string, m: NodeMetricsReport, receivedAt: number): void {
    this.metricsByNode.set(id, { ...m, receivedAt });
  }

  /** The node's last reported figures, if any. */
  metricsOf(id: string): ReceivedMetrics | undefined {
    return this.metricsByNode.get(id);
  }
}
