/**
 * EventIntake: what the driver books from the event messages it hears. A
 * real tube, placement, roster, scheduler and ledger; only the command node
 * (which runners it reads with values) is a stand-in.
 */
import { describe, expect, it } from "vitest";
import { Scheduler } from "../../src/graph/scheduler.ts";
import { EpochLedger } from "../../src/runner/epoch-ledger.ts";
import { EventIntake } from "../../src/runner/zmq/event-intake.ts";
import { placeNodes, upstreamNodes } from "../../src/runner/zmq/placement.ts";
import { Roster } from "../../src/runner/zmq/roster.ts";
import type { CommandNode } from "../../src/runner/zmq/command-node.ts";
import { makeMessage } from "../../src/protocol/message.ts";
import type { EventValue } from "../../src/protocol/runner-to-runner.ts";
import { loadTubeFromSpec } from "../../src/spec/load.ts";

async function intake() {
  // s -> lag -> order -> return, one process per node: the driver reads every runner with values (an event listener).
  const tube = await loadTubeFromSpec(
    {
      nodes: {
        s: { type: "count" },
        lag: { type: "add", depends: [{ left: "s.index" }], params: { right: 0 } },
        order: { type: "add", depends: [{ left: "lag.value" }], params: { right: 100 } },
        return: { type: "return", depends: "order.value" },
      },
    },
    { baseDir: process.cwd() },
  );
  const placement = placeNodes(tube, { mode: "per-node" });
  const roster = new Roster(placement, (id) => upstreamNodes(tube, id));
  const scheduler = new Scheduler(tube, { local: placement.driverNodes, firstEpoch: 0 });
  const ledger = new EpochLedger();
  const command = { readsValuesOf: () => true } as unknown as CommandNode;
  const heard: unknown[] = [];
  const intake = new EventIntake({ tube, placement, roster, scheduler, ledger, command: () => command, heard: (ev) => void heard.push(...ev), pump: () => undefined });
  const hear = (from: string, value: EventValue) => intake.onEvent(makeMessage("event", from, value));
  return { scheduler, hear, heard, ready: () => scheduler.takeReady().map((t) => `${t.node.id}@${t.key}`) };
}

const event = (node: string, epoch: number, value: unknown) => ({ id: 1, timestamp: 1, node_id: node, signal: "value", epoch, value });

describe("event intake - completions passed on", () => {
  it("a passed-on completion of a node whose values the driver does not need counts at once", async () => {
    const { scheduler, hear, ready } = await intake();
    for (const e of [0, 1]) scheduler.openEpoch(e);
    // `order`'s runner passes on s's and lag's completions of epoch 1 with its own; lag's own message for it is still under way.
    hear("order", { events: [event("order", 1, 101)], done: [], finished: [["s", "1"], ["lag", "1"], ["order", "1"]] });
    expect(ready()).toEqual(["return@1"]);
  });

  it("a passed-on completion of a node the driver reads is left for that node's own message, with its events", async () => {
    const { scheduler, hear, heard, ready } = await intake();
    scheduler.openEpoch(0);
    // Someone passes on order's completion without its events: the return node must not run without them.
    hear("lag", { events: [], done: [], finished: [["s", "0"], ["lag", "0"], ["order", "0"]] });
    expect(ready()).toEqual([]);
    hear("order", { events: [event("order", 0, 100)], done: [], finished: [["order", "0"]] });
    const [task] = scheduler.takeReady();
    expect(task?.inputs).toEqual({ value: 100 });
    expect(heard).toHaveLength(1);
  });

  it("done entries follow the same rule", async () => {
    const { scheduler, hear, ready } = await intake();
    scheduler.openEpoch(0);
    hear("order", { events: [event("order", 0, 100)], done: [["s", "0"], ["lag", "0"], ["order", "0"]] });
    expect(ready()).toEqual(["return@0"]);
  });
});
