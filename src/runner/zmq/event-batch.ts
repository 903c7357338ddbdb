/**
 * EventBatch: what a node runner publishes after one round of work, gathered
 * in one place: its nodes' events and completions (a failure rides in its
 * completion), and the completions it heard from upstream runners, passed on
 * once each (the command node reads only the last runners of the graph, see
 * topics.ts). One received batch of events or epochs becomes one batch out.
 */
import type { NodeError } from "../../errors.ts";
import { keyToEpoch } from "../../graph/epoch.ts";
import type { Emitted, Task } from "../../graph/scheduler.ts";
import { nodeErrorToWire } from "../../protocol/node-error.ts";
import type { EventValue } from "../../protocol/runner-to-runner.ts";
import type { TubeEvent } from "../runner.ts";
import { completionKey } from "./event-groups.ts";

export class EventBatch {
  private events: TubeEvent[] = [];
  private done: EventValue["done"] = [];
  /** Completions passed on in this batch, so a diamond does not pass one twice. */
  private forwarded = new Set<string>();
  private eventId = 0;

  /** A task of this runner's finished, emitting `emitted`. */
  completed(task: Task, emitted: Emitted[]): void {
    const timestamp = Date.now();
    for (const e of emitted) {
      this.events.push({ id: ++this.eventId, timestamp, node_id: task.node.id, signal: e.signal, epoch: e.key === task.key ? task.epoch : keyToEpoch(e.key), value: e.value });
    }
    this.done.push([task.node.id, task.key]);
  }

  /** A task of this runner's failed: the error rides in the completion, so whoever hears it is done hears why. */
  failed(task: Task, err: NodeError): void {
    this.done.push([task.node.id, task.key, nodeErrorToWire(err, task.node.id)]);
  }

  /** A completion heard from another runner, passed on once. */
  passOn(entry: EventValue["done"][number]): void {
    const mark = completionKey(entry[0], entry[1]);
    if (this.forwarded.has(mark)) return;
    this.forwarded.add(mark);
    this.done.push(entry);
  }

  /** The batch gathered since the last take, or undefined when there is none; a new batch begins. */
  take(): EventValue | undefined {
    if (this.done.length === 0 && this.events.length === 0) return undefined;
    const value: EventValue = { events: this.events, done: this.done };
    this.events = [];
    this.done = [];
    if (this.forwarded.size > 0) this.forwarded = new Set();
    return value;
  }
}
