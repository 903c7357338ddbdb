/**
 * A runner reports a root epoch its nodes all finished as one `finished`
 * entry, and publishes only the events another process reads (or every
 * event, once an `event` listener asks). These tests prove that this path
 * changes nothing a user sees: the same graph, with a node that emits only
 * now and then (its reader is skipped meanwhile) and a map/gather, gives
 * LocalRunner's values, events and per-node epoch counts, packed into one
 * process, split over several, and one process per node.
 */
import { afterEach, describe, expect, it } from "vitest";
import { loadTubeFromSpec } from "../../src/spec/load.ts";
import { LocalRunner } from "../../src/runner/local.ts";
import type { TubeEvent } from "../../src/runner/runner.ts";
import { ZmqRunner, type ZmqRunnerOptions } from "../../src/runner/zmq/zmq-runner.ts";
import { projectRoot } from "../helpers/acceptance.ts";
import { devNull, useZmqRunners } from "../helpers/zmq-runners.ts";

const spec = {
  noob_id: "finished-path",
  nodes: {
    a: { type: "count" },
    n1: { type: "add", depends: [{ left: "a.index" }], params: { right: 1 } },
    n2: { type: "add", depends: [{ left: "n1.value" }], params: { right: 10 } },
    // Emits in every third epoch only: `t` is skipped in the others, and the return gets nothing from it.
    s: { type: "sporadic", params: { values: ["x", "y"], every: 3 } },
    t: { type: "exclaim", depends: [{ value: "s.value" }] },
    m: { type: "cycle", params: { values: [["a", "b"], ["c", "d", "e"], []] } },
    b: { type: "map", depends: [{ value: "m.value" }] },
    c: { type: "exclaim", depends: [{ value: "b.value" }] },
    d: { type: "gather", depends: [{ value: "c.value" }, { n: "b.n" }] },
    e: { type: "concat", depends: [{ items: "d.value" }] },
    return: { type: "return", depends: [{ sum: "n2.value" }, { shout: "t.value" }, { joined: "e.value" }] },
  },
};
const EPOCHS = 12;

const started = useZmqRunners();
/** Runners this file builds itself (to listen before init), deinitialized after each test. */
const owned: ZmqRunner[] = [];
afterEach(async () => {
  for (const r of owned.splice(0)) await r.deinit();
});

/** An event as a user compares it: which node, signal, epoch and value (ids and timestamps are the runner's own). */
function seen(events: TubeEvent[]): string[] {
  return events.map((e) => JSON.stringify([e.node_id, e.signal, e.epoch, e.value])).sort();
}

async function localReference(): Promise<{ values: unknown[]; events: string[] }> {
  const local = new LocalRunner(await loadTubeFromSpec(spec, { baseDir: projectRoot }));
  const events: TubeEvent[] = [];
  local.on("event", (e) => void events.push(e));
  await local.init();
  const values: unknown[] = [];
  for (let i = 0; i < EPOCHS; i++) values.push(await local.process());
  await local.deinit();
  return { values, events: seen(events) };
}

const layouts: Array<[string, ZmqRunnerOptions, (runners: number) => boolean]> = [
  ["packed into one process", { processesPerHost: 1 }, (n) => n === 1],
  ["packed into several processes", { processesPerHost: 3 }, (n) => n > 1],
  ["one process per node", { processes: "per-node" }, (n) => n === 10],
];

describe("zmq runner - whole-runner completions and events only where read", { timeout: 120_000 }, () => {
  it.each(layouts)("%s: process() values equal LocalRunner's, and every node counts every epoch", async (_name, options, runnersOk) => {
    const reference = await localReference();
    const zmq = await started(spec, options);
    expect(runnersOk(zmq.placement.runners.size)).toBe(true);
    const values: unknown[] = [];
    for (let i = 0; i < EPOCHS; i++) values.push(await zmq.process());
    expect(values).toEqual(reference.values);
    // The conditional path really was taken: `t` gave the return something only now and then.
    expect(values.filter((v) => (v as { shout?: string }).shout !== undefined)).toHaveLength(EPOCHS / 3);
    const nodes = zmq.status().nodes;
    // Root-level nodes were booked through `finished` entries (or one by one): each counts every epoch once.
    for (const id of ["a", "n1", "n2", "s", "t", "m", "b", "d", "e"]) expect([id, nodes[id]!.epochs]).toEqual([id, EPOCHS]);
  });

  it.each(layouts)("%s: free-run gives LocalRunner's values in order", async (_name, options) => {
    const reference = await localReference();
    const zmq = await started(spec, options);
    const results = await zmq.run(EPOCHS);
    expect(results.map((r) => r.value)).toEqual(reference.values);
  });

  it.each(layouts)("%s: an `event` listener hears every node's events, as from LocalRunner", async (_name, options) => {
    const reference = await localReference();
    const events: TubeEvent[] = [];
    // Added before init: the runners learn of it with their subscriptions, before the first epoch.
    const zmq = new ZmqRunner(await loadTubeFromSpec(spec, { baseDir: projectRoot }), { output: devNull, ...options });
    owned.push(zmq);
    zmq.on("event", (e) => void events.push(e));
    await zmq.init();
    const values: unknown[] = [];
    for (let i = 0; i < EPOCHS; i++) values.push(await zmq.process());
    expect(values).toEqual(reference.values);
    expect(seen(events)).toEqual(reference.events);
  });
});
