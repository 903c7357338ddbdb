/**
 * EventBatch: what a runner publishes after a round of work. Its nodes'
 * root completions fold into one `finished` entry per root epoch the runner
 * finished; events go out only for nodes read elsewhere, unless all are asked for.
 */
import { describe, expect, it } from "vitest";
import { NodeError } from "../../src/errors.ts";
import type { Task } from "../../src/graph/scheduler.ts";
import { EventBatch } from "../../src/runner/zmq/event-batch.ts";

const task = (node: string, key: string): Task => ({ node: { id: node }, key, epoch: Number(key.split("/")[0]), inputs: {} }) as unknown as Task;
const out = (value: unknown) => [{ signal: "value", key: "", value }];

describe("event batch - one finished entry per root epoch, events only where read", () => {
  it("root completions of a finished root become one entry; of an unfinished one they go one by one", () => {
    const b = new EventBatch("+a", new Set(["c"]));
    for (const n of ["a", "b", "c"]) b.completed(task(n, "0"), []);
    b.completed(task("a", "1"), []);
    const v = b.take(new Set(["0"]))!;
    expect(v.finished).toEqual([["+a", "0"]]);
    expect(v.done).toEqual([["a", "1"]]);
    expect(b.take()).toBeUndefined();
  });

  it("a root finished after its completions left in an earlier batch is still said once", () => {
    const b = new EventBatch("+a", new Set());
    b.completed(task("a", "0"), []);
    expect(b.take()!.done).toEqual([["a", "0"]]);
    expect(b.take(new Set(["0"]))).toEqual({ events: [], done: [], finished: [["+a", "0"]] });
  });

  it("sub-epoch completions and failures stay in done, before the finished entry", () => {
    const b = new EventBatch("+a", new Set());
    b.completed(task("c", "0/m.1"), []);
    const err = new NodeError("TUBULAR_ERR_NODE_FAILED", { nodeId: "b", epoch: 0, errorType: "Error", errorMessage: "boom" });
    b.failed(task("b", "0"), err);
    b.completed(task("b", "0"), []);
    const v = b.take(new Set(["0"]))!;
    expect(v.done.map((d) => d.slice(0, 2))).toEqual([["c", "0/m.1"], ["b", "0"]]);
    expect(v.done[1]).toHaveLength(3);
    expect(v.finished).toEqual([["+a", "0"]]);
  });

  it("events of nodes nobody reads elsewhere stay home, unless someone asked for all", () => {
    const b = new EventBatch("+a", new Set(["c"]));
    b.completed(task("b", "0"), out(1).map((e) => ({ ...e, key: "0" })));
    b.completed(task("c", "0"), out(2).map((e) => ({ ...e, key: "0" })));
    expect(b.take()!.events.map((e) => [e.node_id, e.value])).toEqual([["c", 2]]);
    b.allEvents = true;
    b.completed(task("b", "1"), out(3).map((e) => ({ ...e, key: "1" })));
    expect(b.take()!.events.map((e) => [e.node_id, e.value])).toEqual([["b", 3]]);
  });

  it("passes on another runner's finished entry once per batch, apart from a node of the same name", () => {
    const b = new EventBatch("+x", new Set());
    b.passOnFinished(["a", "4"]);
    b.passOnFinished(["a", "4"]);
    b.passOn(["a", "4"]);
    expect(b.take()).toEqual({ events: [], done: [["a", "4"]], finished: [["a", "4"]] });
  });
});
