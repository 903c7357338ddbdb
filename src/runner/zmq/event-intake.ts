/**
 * EventIntake: what the command node hears on the runners' outboxes. Each
 * completion goes into the scheduler once, with its events; it is counted on
 * its runner's record; the error it carries (an epoch's errors travel inside
 * its completions) goes to the ledger, so a failed epoch fails as it ends.
 */
import type { NodeError } from "../../errors.ts";
import type { Scheduler } from "../../graph/scheduler.ts";
import type { Tube } from "../../graph/tube.ts";
import type { MessageOf } from "../../protocol/message.ts";
import { nodeErrorFromWire } from "../../protocol/node-error.ts";
import type { EpochLedger } from "../epoch-ledger.ts";
import type { TubeEvent } from "../runner.ts";
import type { CommandNode } from "./command-node.ts";
import { completionKey, groupEvents } from "./event-groups.ts";
import { finishedNodesOf } from "./event-batch.ts";
import type { Placement } from "./placement.ts";
import type { Roster } from "./roster.ts";

export interface EventIntakeDeps {
  readonly tube: Tube;
  readonly placement: Placement;
  readonly roster: Roster;
  readonly scheduler: Scheduler;
  readonly ledger: EpochLedger;
  command(): CommandNode | undefined;
  /** The events of a message, for the `event` listeners. */
  heard(events: readonly TubeEvent[]): void;
  /** Completions arrived: run what became ready. */
  pump(): void;
}

export class EventIntake {
  /** Root-level nodes of each runner: what a `finished` entry of that runner stands for (event-batch.ts). */
  private readonly rootNodesOf: Map<string, string[]>;
  /** The same, less the nodes whose values the driver needs: what a completion passed on by another runner may book. */
  private readonly passableOf = new Map<string, string[]>();
  /** Nodes whose values the driver needs: readers of a driver node, and maps (their items open sub-epochs). */
  private readonly valuesNeeded = new Set<string>();

  constructor(private readonly deps: EventIntakeDeps) {
    const { tube, placement } = deps;
    const driver = new Set(placement.driverNodes);
    for (const node of tube.nodes.values()) {
      if (node.definition.special === "map" || tube.downstream.get(node.id)!.some((d) => driver.has(d))) this.valuesNeeded.add(node.id);
    }
    this.rootNodesOf = finishedNodesOf(tube, placement.runners.values());
    for (const [id, roots] of this.rootNodesOf) this.passableOf.set(id, roots.filter((n) => !this.valuesNeeded.has(n)));
  }

  onEvent(msg: MessageOf<"event">): void {
    const { tube, placement, roster, scheduler } = this.deps;
    const { events, done, finished } = msg.value;
    if (events.length > 0) this.deps.heard(events);
    const groups = events.length > 0 ? groupEvents(tube, events) : undefined;
    const command = this.deps.command()!;
    for (const entry of done) {
      const [nodeId, key] = entry;
      const runner = placement.runnerOf.get(nodeId);
      // A completion passed on by another runner comes without its events: when we read that
      // node's runner for its values and need them, its own message (with them) is the one to take.
      // Otherwise the first to arrive counts: a node's own message and the runner after it come on
      // two connections, and waiting for the own one let a later epoch end first (epoch-order test, loaded machine).
      if (runner !== msg.node_id && runner !== undefined && command.readsValuesOf(runner) && this.valuesNeeded.has(nodeId)) continue;
      if (!scheduler.complete(nodeId, key, groups?.get(completionKey(nodeId, key)) ?? [])) continue;
      roster.countEpoch(runner, nodeId);
      if (entry.length === 3) this.failed(key, nodeErrorFromWire(entry[2]));
    }
    // After `done`: a failure in it is booked before the rest of its runner's epoch.
    if (finished) {
      for (const [runner, key] of finished) {
        const nodes = runner !== msg.node_id && command.readsValuesOf(runner) ? this.passableOf.get(runner) : this.rootNodesOf.get(runner);
        if (!nodes) continue;
        scheduler.completeAll(nodes, key, (n) => groups?.get(completionKey(n, key)) ?? [], (n) => roster.countEpoch(runner, n));
      }
    }
    this.deps.pump();
  }

  /** A node failed in the epoch of `key` ("3", "3/m.1"): the root epoch fails. */
  failed(key: string, err: NodeError): void {
    const slash = key.indexOf("/");
    this.deps.ledger.fail(Number(slash < 0 ? key : key.slice(0, slash)), err);
  }
}
