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
  private readonly rootNodesOf = new Map<string, string[]>();

  constructor(private readonly deps: EventIntakeDeps) {
    for (const plan of deps.placement.runners.values()) this.rootNodesOf.set(plan.id, plan.nodes.filter((n) => deps.tube.nodes.get(n)?.scope.length === 0));
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
      // node's runner for its values, its own message (with them) is the one to take.
      if (runner !== msg.node_id && runner !== undefined && command.readsValuesOf(runner)) continue;
      if (!scheduler.complete(nodeId, key, groups?.get(completionKey(nodeId, key)) ?? [])) continue;
      roster.countEpoch(runner, nodeId);
      if (entry.length === 3) this.failed(key, nodeErrorFromWire(entry[2]));
    }
    // After `done`: a failure in it is booked before the rest of its runner's epoch.
    if (finished) {
      for (const [runner, key] of finished) {
        const nodes = this.rootNodesOf.get(runner);
        if (!nodes || (runner !== msg.node_id && command.readsValuesOf(runner))) continue;
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
