/**
 * EventBatch: what a node runner publishes after one round of work, gathered
 * in one place: its nodes' events and completions (a failure rides in its
 * completion), and the completions it heard from upstream runners, passed on
 * once each (the command node reads only the last runners of the graph, see
 * topics.ts). One received batch of events or epochs becomes one batch out.
 *
 * Two things keep a packed runner's message small (chain100 in one process,
 * bench/node-cost.ts: the driver spent 0.39-0.59 ms and the runner 0.51 ms of
 * CPU per epoch, most of it on 100 events and 100 done entries per epoch
 * that nobody outside the process needed):
 * - events go out only for nodes read from another process (and maps, whose
 *   items open sub-epochs in every scheduler), unless someone wants them all;
 * - the root-epoch completions of a root epoch this runner finished in the
 *   round become one `finished` entry `[runnerId, rootKey]`; failures and
 *   sub-epoch completions still go one by one in `done`.
 */
import type { NodeError } from "../../errors.ts";
import { keyToEpoch } from "../../graph/epoch.ts";
import type { Emitted, Task } from "../../graph/scheduler.ts";
import type { Tube } from "../../graph/tube.ts";
import { nodeErrorToWire } from "../../protocol/node-error.ts";
import type { EventValue } from "../../protocol/runner-to-runner.ts";
import type { TubeEvent } from "../runner.ts";
import { completionKey } from "./event-groups.ts";

type DoneEntry = EventValue["done"][number];

/**
 * What a `finished` entry of each runner stands for: its root-level nodes
 * (nodes inside a map complete per sub-epoch and still travel one by one).
 * Its readers (the driver, downstream runners) book these in one step.
 */
export function finishedNodesOf(tube: Tube, runners: Iterable<{ readonly id: string; readonly nodes: readonly string[] }>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const plan of runners) out.set(plan.id, plan.nodes.filter((n) => tube.nodes.get(n)?.scope.length === 0));
  return out;
}
type FinishedEntry = NonNullable<EventValue["finished"]>[number];

export class EventBatch {
  private events: TubeEvent[] = [];
  private done: DoneEntry[] = [];
  /** This runner's own root-epoch completions (key without "/", no error): folded into `finished` where the root ended. */
  private rootDone: Array<[string, string]> = [];
  private finished: FinishedEntry[] = [];
  /** Completions passed on in this batch, so a diamond does not pass one twice. */
  private forwarded = new Set<string>();
  private eventId = 0;
  /** Whether someone wants the events of every node (see topics.ts allValuesTopic). */
  allEvents = false;

  /**
   * `runnerId`: this runner's id, in its `finished` entries. `readElsewhere`:
   * its nodes whose events someone outside the process reads.
   */
  constructor(
    private readonly runnerId: string,
    private readonly readElsewhere: ReadonlySet<string>,
  ) {}

  /** A task of this runner's finished, emitting `emitted`. */
  completed(task: Task, emitted: Emitted[]): void {
    if (emitted.length > 0 && (this.allEvents || this.readElsewhere.has(task.node.id))) {
      const timestamp = Date.now();
      for (const e of emitted) {
        this.events.push({ id: ++this.eventId, timestamp, node_id: task.node.id, signal: e.signal, epoch: e.key === task.key ? task.epoch : keyToEpoch(e.key), value: e.value });
      }
    }
    if (task.key.indexOf("/") < 0) this.rootDone.push([task.node.id, task.key]);
    else this.done.push([task.node.id, task.key]);
  }

  /** A task of this runner's failed: the error rides in the completion, so whoever hears it is done hears why. */
  failed(task: Task, err: NodeError): void {
    this.done.push([task.node.id, task.key, nodeErrorToWire(err, task.node.id)]);
  }

  /** A completion heard from another runner, passed on once. */
  passOn(entry: DoneEntry): void {
    const mark = completionKey(entry[0], entry[1]);
    if (this.forwarded.has(mark)) return;
    this.forwarded.add(mark);
    this.done.push(entry);
  }

  /** Another runner's finished root epoch, passed on once. */
  passOnFinished(entry: FinishedEntry): void {
    // A runner id may equal a node id (one process per node): a prefix no node id has keeps the marks apart.
    const mark = completionKey(`\u0000${entry[0]}`, entry[1]);
    if (this.forwarded.has(mark)) return;
    this.forwarded.add(mark);
    this.finished.push(entry);
  }

  /**
   * The batch gathered since the last take, or undefined when there is none;
   * a new batch begins. `finishedRoots`: root epochs (keys) this runner's
   * nodes have all completed, whose root completions fold into one entry.
   */
  take(finishedRoots?: ReadonlySet<string>): EventValue | undefined {
    if (this.rootDone.length > 0) {
      for (const entry of this.rootDone) if (!finishedRoots?.has(entry[1])) this.done.push(entry);
      this.rootDone = [];
    }
    // A root finished here is said once, even when its completions left in earlier batches.
    if (finishedRoots) for (const key of finishedRoots) this.finished.push([this.runnerId, key]);
    if (this.done.length === 0 && this.events.length === 0 && this.finished.length === 0) return undefined;
    const value: EventValue = this.finished.length > 0 ? { events: this.events, done: this.done, finished: this.finished } : { events: this.events, done: this.done };
    this.events = [];
    this.done = [];
    this.finished = [];
    if (this.forwarded.size > 0) this.forwarded = new Set();
    return value;
  }
}
