/**
 * The scheduler driven by hand: no node code runs. Each test opens epochs,
 * takes the ready tasks and reports completions with the values a node would
 * have emitted.
 */
import { describe, expect, it } from "vitest";
import { subKey } from "../../src/graph/epoch.ts";
import { Scheduler, type Emitted, type SchedulerOptions, type Task } from "../../src/graph/scheduler.ts";
import type { Tube } from "../../src/graph/tube.ts";
import { loadTubeFromSpec } from "../../src/spec/load.ts";

function tubeOf(nodes: Record<string, unknown>, input?: Record<string, unknown>): Promise<Tube> {
  return loadTubeFromSpec({ nodes, ...(input ? { input } : {}) }, { baseDir: process.cwd() });
}

/** "node@key", with "(skip)" when the task is a skip. */
const names = (tasks: readonly Task[]) => tasks.map((t) => `${t.node.id}@${t.key}${t.inputs === null ? "(skip)" : ""}`);

const ev = (signal: string, key: string, value: unknown): Emitted => ({ signal, key, value });

function byName(tasks: readonly Task[], name: string): Task {
  const t = tasks.find((x) => `${x.node.id}@${x.key}` === name);
  if (!t) throw new Error(`no task ${name} in ${names(tasks).join(", ")}`);
  return t;
}

describe("scheduler - slots", () => {
  it("a node runs in an epoch once its upstream completed it, with the upstream's values and its param slots", async () => {
    const tube = await tubeOf({ a: { type: "count" }, b: { type: "multiply", depends: [{ left: "a.index" }], params: { right: 3 } } });
    const s = new Scheduler(tube);
    s.openEpoch(0);
    expect(names(s.takeReady())).toEqual(["a@0"]);
    expect(s.takeReady()).toEqual([]);
    s.complete("a", "0", [ev("index", "0", 5)]);
    const [b] = s.takeReady();
    expect(names([b!])).toEqual(["b@0"]);
    expect(b!.inputs).toEqual({ left: 5, right: 3 });
    expect(b!.epoch).toBe(0);
  });

  it("a required slot without an event skips the node (a task with null inputs)", async () => {
    const tube = await tubeOf({ a: { type: "count" }, b: { type: "multiply", depends: [{ left: "a.index" }], params: { right: 3 } } });
    const s = new Scheduler(tube);
    s.openEpoch(0);
    s.takeReady();
    s.complete("a", "0", []);
    expect(names(s.takeReady())).toEqual(["b@0(skip)"]);
  });

  it("an optional slot without an event does not hold the node back: it gets the slot's default", async () => {
    const tube = await tubeOf({
      s: { type: "cycle", params: { values: ["hi"] } },
      h: { type: "sporadic", params: { values: [3], every: 2 } },
      x: { type: "exclaim", depends: [{ value: "s.value" }, { hype: "h.value" }] },
    });
    const s = new Scheduler(tube);
    s.openEpoch(0);
    expect(names(s.takeReady()).sort()).toEqual(["h@0", "s@0"]);
    s.complete("s", "0", [ev("value", "0", "hi")]);
    expect(s.takeReady()).toEqual([]); // still waits for h to complete (ran or skipped)
    s.complete("h", "0", []);
    const [x] = s.takeReady();
    expect(x!.inputs).toEqual({ value: "hi", hype: 1 });
  });

  it("an event on an optional slot is used over its default", async () => {
    const tube = await tubeOf({
      s: { type: "cycle", params: { values: ["hi"] } },
      h: { type: "sporadic", params: { values: [3], every: 1 } },
      x: { type: "exclaim", depends: [{ value: "s.value" }, { hype: "h.value" }] },
    });
    const s = new Scheduler(tube);
    s.openEpoch(0);
    s.takeReady();
    s.complete("s", "0", [ev("value", "0", "hi")]);
    s.complete("h", "0", [ev("value", "0", 3)]);
    expect(s.takeReady()[0]!.inputs).toEqual({ value: "hi", hype: 3 });
  });
});

describe("scheduler - NoEvent", () => {
  it("propagates: the nodes after a skipped node skip too, and the epoch still completes", async () => {
    const tube = await tubeOf({
      a: { type: "sporadic", params: { values: [1], every: 2 } },
      b: { type: "multiply", depends: [{ left: "a.value" }], params: { right: 2 } },
      c: { type: "add", depends: [{ left: "b.value" }], params: { right: 1 } },
      r: { type: "return", depends: "c.value" },
    });
    const s = new Scheduler(tube);
    s.openEpoch(0);
    s.takeReady();
    s.complete("a", "0", []);
    expect(names(s.takeReady())).toEqual(["b@0(skip)"]);
    s.complete("b", "0", []);
    expect(names(s.takeReady())).toEqual(["c@0(skip)"]);
    s.complete("c", "0", []);
    // The return node runs (with nothing): an object/scalar return of nothing is null.
    const [r] = s.takeReady();
    expect(r!.inputs).toEqual({});
    expect(s.takeCompleted()).toEqual([]);
    s.complete("r", "0", []);
    expect(s.takeCompleted()).toEqual([0]);
    expect(s.valueOf(0, "r", "value")).toBeUndefined();
  });

  it("a node with one required slot fed and another not still skips", async () => {
    const tube = await tubeOf({
      a: { type: "count" },
      h: { type: "sporadic", params: { values: [1], every: 2 } },
      b: { type: "add", depends: [{ left: "a.index" }, { right: "h.value" }] },
    });
    const s = new Scheduler(tube);
    s.openEpoch(0);
    s.takeReady();
    s.complete("a", "0", [ev("index", "0", 0)]);
    s.complete("h", "0", []);
    expect(names(s.takeReady())).toEqual(["b@0(skip)"]);
  });
});

const mapSpec = (statefulItem = false) => ({
  src: { type: "cycle", params: { values: [["a", "b", "c"]] } },
  m: { type: "map", depends: "src.value" },
  x: { type: "exclaim", depends: "m.value", ...(statefulItem ? { stateful: true } : {}) },
  g: { type: "gather", depends: [{ value: "x.value" }, { n: "m.n" }] },
  r: { type: "return", depends: [{ items: "x.value" }, { gathered: "g.value" }, { n: "m.n" }] },
});

describe("scheduler - map", () => {
  it("runs the nodes after a map once per item, in sub-epochs [root, [map, i]]", async () => {
    const tube = await tubeOf(mapSpec());
    expect(tube.nodes.get("x")!.scope).toEqual(["m"]);
    expect(tube.nodes.get("g")!.scope).toEqual([]);
    expect([...tube.nodes.get("g")!.collapsed]).toEqual(["value"]);
    const s = new Scheduler(tube);
    s.openEpoch(0);
    s.takeReady();
    s.complete("src", "0", [ev("value", "0", ["a", "b", "c"])]);
    expect(names(s.takeReady())).toEqual(["m@0"]);
    s.complete("m", "0", [ev("value", subKey("0", "m", 0), "a"), ev("value", subKey("0", "m", 1), "b"), ev("value", subKey("0", "m", 2), "c"), ev("n", "0", 3)]);
    const items = s.takeReady();
    expect(names(items)).toEqual(["x@0/m.0", "x@0/m.1", "x@0/m.2"]);
    expect(items.map((t) => t.epoch)).toEqual([[0, ["m", 0]], [0, ["m", 1]], [0, ["m", 2]]]);
    expect(items.map((t) => t.inputs!.value)).toEqual(["a", "b", "c"]);
  });

  it("a node reading one map level deeper gets the list of the items' values once every item completed, in item order", async () => {
    const tube = await tubeOf(mapSpec());
    const s = new Scheduler(tube);
    s.openEpoch(0);
    s.takeReady();
    s.complete("src", "0", [ev("value", "0", ["a", "b", "c"])]);
    s.takeReady();
    s.complete("m", "0", [0, 1, 2].map((i) => ev("value", subKey("0", "m", i), "abc"[i])).concat([ev("n", "0", 3)]));
    s.takeReady();
    // Items complete out of order; item 1 emits nothing.
    s.complete("x", "0/m.2", [ev("value", "0/m.2", "c!")]);
    s.complete("x", "0/m.1", []);
    expect(s.takeReady()).toEqual([]);
    s.complete("x", "0/m.0", [ev("value", "0/m.0", "a!")]);
    const ready = s.takeReady();
    expect(names(ready)).toEqual(["g@0"]);
    expect(ready[0]!.inputs).toEqual({ value: ["a!", "c!"], n: 3 });
    s.complete("g", "0", [ev("value", "0", ["a!", "c!"])]);
    const [r] = s.takeReady();
    expect(r!.inputs).toEqual({ items: ["a!", "c!"], gathered: ["a!", "c!"], n: 3 });
    s.complete("r", "0", [ev("value", "0", "done")]);
    expect(s.takeCompleted()).toEqual([0]);
  });

  it("a stateful node inside a map runs the items in order", async () => {
    const tube = await tubeOf(mapSpec(true));
    const s = new Scheduler(tube);
    s.openEpoch(0);
    s.takeReady();
    s.complete("src", "0", [ev("value", "0", ["a", "b"])]);
    s.takeReady();
    s.complete("m", "0", [ev("value", "0/m.0", "a"), ev("value", "0/m.1", "b"), ev("n", "0", 2)]);
    expect(names(s.takeReady())).toEqual(["x@0/m.0"]);
    s.complete("x", "0/m.0", [ev("value", "0/m.0", "a!")]);
    expect(names(s.takeReady())).toEqual(["x@0/m.1"]);
  });

  it("an empty list opens no sub-epoch: readers of the map's items get an empty list", async () => {
    const tube = await tubeOf(mapSpec());
    const s = new Scheduler(tube);
    s.openEpoch(0);
    s.takeReady();
    s.complete("src", "0", [ev("value", "0", [])]);
    s.takeReady();
    s.complete("m", "0", [ev("n", "0", 0)]);
    const ready = s.takeReady();
    expect(names(ready)).toEqual(["g@0"]);
    expect(ready[0]!.inputs).toMatchObject({ value: [], n: 0 });
  });
});

describe("scheduler - gather", () => {
  it("gets its n from a slot, and runs each epoch (stateful, in order) with or without a trigger event", async () => {
    const tube = await tubeOf({
      a: { type: "count" },
      t: { type: "sporadic", params: { values: [true], every: 2 } },
      g: { type: "gather", depends: [{ value: "a.index" }, { trigger: "t.value" }] },
    });
    const s = new Scheduler(tube);
    s.openEpoch(0);
    s.openEpoch(1);
    const first = names(s.takeReady()).sort();
    expect(first).toEqual(["a@0", "t@0"]); // sources are stateful: epoch 1 waits for epoch 0
    s.complete("a", "0", [ev("index", "0", 0)]);
    s.complete("t", "0", []);
    const r0 = s.takeReady();
    expect(byName(r0, "g@0").inputs).toEqual({ value: 0 });
    expect(names(r0).sort()).toEqual(["a@1", "g@0", "t@1"]);
    s.complete("a", "1", [ev("index", "1", 1)]);
    s.complete("t", "1", [ev("value", "1", true)]);
    expect(s.takeReady()).toEqual([]); // g@1 waits for g@0
    s.complete("g", "0", []);
    expect(s.takeReady()[0]!.inputs).toEqual({ value: 1, trigger: true });
  });

  it("takes n from params when no slot feeds it", async () => {
    const tube = await tubeOf({ a: { type: "count" }, g: { type: "gather", depends: [{ value: "a.index" }], params: { n: 2 } } });
    const g = tube.nodes.get("g")!;
    expect(g.params).toEqual({ n: 2 });
    expect(g.constSlots).toEqual({ n: 2 }); // params may supply slots
    expect(g.edges.map((e) => e.slot)).toEqual(["value"]);
    expect([...g.required]).toEqual(["value"]);
    const s = new Scheduler(tube);
    s.openEpoch(0);
    s.takeReady();
    s.complete("a", "0", [ev("index", "0", 7)]);
    expect(s.takeReady()[0]!.inputs).toEqual({ value: 7, n: 2 });
  });
});

describe("scheduler - stateful ordering", () => {
  const chain = {
    a: { type: "count" },
    b: { type: "multiply", depends: [{ left: "a.index" }], params: { right: 2 } }, // stateless
    c: { type: "add", depends: [{ left: "b.value" }], params: { right: 1 }, stateful: true },
  };

  it("a stateful node runs its epochs in order even when its inputs complete out of order", async () => {
    const s = new Scheduler(await tubeOf(chain));
    s.openEpoch(0);
    s.openEpoch(1);
    expect(names(s.takeReady())).toEqual(["a@0"]);
    s.complete("a", "0", [ev("index", "0", 0)]);
    expect(names(s.takeReady()).sort()).toEqual(["a@1", "b@0"]);
    s.complete("a", "1", [ev("index", "1", 1)]);
    expect(names(s.takeReady())).toEqual(["b@1"]); // stateless: runs beside b@0
    s.complete("b", "1", [ev("value", "1", 2)]);
    expect(s.takeReady()).toEqual([]); // c@1 waits for c@0
    s.complete("b", "0", [ev("value", "0", 0)]);
    expect(names(s.takeReady())).toEqual(["c@0"]);
    s.complete("c", "0", [ev("value", "0", 1)]);
    expect(names(s.takeReady())).toEqual(["c@1"]);
    s.complete("c", "1", [ev("value", "1", 3)]);
    expect(s.takeCompleted().sort()).toEqual([0, 1]);
  });

  it("a skipped epoch counts in the order: the next epoch may run after it", async () => {
    const s = new Scheduler(await tubeOf(chain));
    s.openEpoch(0);
    s.openEpoch(1);
    s.takeReady();
    s.complete("a", "0", []);
    s.takeReady();
    s.complete("a", "1", [ev("index", "1", 1)]);
    s.takeReady();
    s.complete("b", "0", []); // b@0 skipped
    expect(names(s.takeReady())).toEqual(["c@0(skip)"]);
    s.complete("b", "1", [ev("value", "1", 2)]);
    expect(s.takeReady()).toEqual([]);
    s.complete("c", "0", []);
    expect(names(s.takeReady())).toEqual(["c@1"]);
  });

  it("epochs opened out of order: stateless nodes run at once, stateful ones wait for their turn", async () => {
    const s = new Scheduler(await tubeOf(chain), { firstEpoch: 0 });
    s.openEpoch(1);
    expect(s.takeReady()).toEqual([]); // a is stateful: epoch 0 first
    s.openEpoch(0);
    expect(names(s.takeReady())).toEqual(["a@0"]);
    s.complete("a", "0", [ev("index", "0", 0)]);
    expect(names(s.takeReady()).sort()).toEqual(["a@1", "b@0"]);
  });

  it("events for an epoch may arrive before it is opened (a remote upstream)", async () => {
    const tube = await tubeOf(chain);
    const s = new Scheduler(tube, { local: ["b", "c"], firstEpoch: 0 } satisfies SchedulerOptions);
    s.complete("a", "0", [ev("index", "0", 4)]);
    expect(byName(s.takeReady(), "b@0").inputs).toEqual({ left: 4, right: 2 });
    s.openEpoch(0);
    expect(s.takeReady()).toEqual([]);
  });
});

describe("scheduler - closing epochs and memory", () => {
  const graph = {
    a: { type: "count" },
    b: { type: "multiply", depends: [{ left: "a.index" }], params: { right: 2 } },
    r: { type: "return", depends: "b.value" },
  };

  /** Runs every ready task with a fake of the node: a emits the epoch, b doubles, r passes. */
  function drain(s: Scheduler): void {
    for (let tasks = s.takeReady(); tasks.length > 0; tasks = s.takeReady()) {
      for (const t of tasks) {
        const root = t.key;
        const value = t.node.id === "a" ? Number(root) : t.node.id === "b" ? (t.inputs!.left as number) * 2 : t.inputs!.value;
        s.complete(t.node.id, t.key, [ev(t.node.signals[0]!, t.key, value)]);
      }
    }
  }

  it("closeEpoch forgets the epoch: late completions and a re-opening are ignored", async () => {
    const s = new Scheduler(await tubeOf(graph));
    s.openEpoch(0);
    s.takeReady();
    s.complete("a", "0", [ev("index", "0", 0)]);
    expect(names(s.takeReady())).toEqual(["b@0"]);
    s.closeEpoch(0);
    expect(s.openEpochs).toBe(0);
    s.complete("b", "0", [ev("value", "0", 0)]);
    expect(s.takeReady()).toEqual([]);
    expect(s.takeCompleted()).toEqual([]);
    s.openEpoch(0);
    expect(s.takeReady()).toEqual([]);
    expect(s.openEpochs).toBe(0);
    expect(s.isComplete(0)).toBe(true);
  });

  it("bounded memory: after many epochs, each closed when complete, no epoch is held", async () => {
    const s = new Scheduler(await tubeOf(graph));
    const values: unknown[] = [];
    for (let e = 0; e < 2000; e++) {
      s.openEpoch(e);
      drain(s);
      for (const done of s.takeCompleted()) {
        values.push(s.valueOf(done, "r", "value"));
        s.closeEpoch(done);
      }
      expect(s.openEpochs).toBe(0);
    }
    expect(values).toHaveLength(2000);
    expect(values[1999]).toBe(3998);
  });

  it("bounded memory with a window of epochs in flight", async () => {
    const s = new Scheduler(await tubeOf(graph));
    let peak = 0;
    for (let e = 0; e < 64; e++) s.openEpoch(e);
    peak = s.openEpochs;
    drain(s);
    for (const done of s.takeCompleted()) s.closeEpoch(done);
    expect(peak).toBe(64);
    expect(s.openEpochs).toBe(0);
  });
});

describe("scheduler - epochs out of order, assets", () => {
  it("epochs opened out of order: a stateless node runs each at once, a stateful one waits its turn", async () => {
    const tube = await tubeOf(
      {
        free: { type: "multiply", stateful: false, depends: [{ left: "input.x" }], params: { right: 1 } },
        ordered: { type: "multiply", stateful: true, depends: [{ left: "input.x" }], params: { right: 1 } },
      },
      { x: { scope: "process", type: "int" } },
    );
    const s = new Scheduler(tube, { firstEpoch: 0 });
    s.openEpoch(2, { x: 2 });
    expect(names(s.takeReady())).toEqual(["free@2"]);
    s.openEpoch(1, { x: 1 });
    expect(names(s.takeReady())).toEqual(["free@1"]);
    s.openEpoch(0, { x: 0 });
    expect(names(s.takeReady())).toEqual(["free@0", "ordered@0"]);
    s.complete("ordered", "0", [ev("value", "0", 0)]);
    expect(names(s.takeReady())).toEqual(["ordered@1"]);
    s.complete("ordered", "1", [ev("value", "1", 1)]);
    expect(names(s.takeReady())).toEqual(["ordered@2"]);
  });

  it("a reader of a round-tripped asset waits for the refreshing node's previous epoch; the slot holds a marker", async () => {
    const tube = await loadTubeFromSpec(
      {
        assets: { t: { type: "./test/fixtures/nodes/shared.ts#Tally", scope: "runner", depends: "b.value" } },
        nodes: { a: { type: "multiply", depends: [{ left: "assets.t" }], params: { right: 1 } }, b: { type: "multiply", depends: [{ left: "a.value" }], params: { right: 1 } } },
      },
      { baseDir: process.cwd() },
    );
    const s = new Scheduler(tube);
    s.openEpoch(0);
    s.openEpoch(1);
    const ready = s.takeReady();
    expect(names(ready)).toEqual(["a@0"]);
    expect(Object.keys(byName(ready, "a@0").inputs!)).toEqual(["right", "left"]);
    s.complete("a", "0", [ev("value", "0", 1)]);
    expect(names(s.takeReady())).toEqual(["b@0"]);
    s.complete("b", "0", [ev("value", "0", 1)]);
    expect(names(s.takeReady())).toEqual(["a@1"]);
  });
});

describe("scheduler - a whole runner's part of a root epoch at once (completeAll)", () => {
  const chain = () =>
    tubeOf({
      a: { type: "count" },
      b: { type: "add", depends: [{ left: "a.index" }], params: { right: 1 } },
      c: { type: "add", depends: [{ left: "b.value" }], params: { right: 1 } },
      d: { type: "multiply", depends: [{ left: "c.value" }], params: { right: 2 } },
    });

  it("books every node as done, with the events `eventsOf` gives, and the reader elsewhere becomes ready", async () => {
    const s = new Scheduler(await chain(), { local: ["d"] });
    s.openEpoch(0);
    const booked: string[] = [];
    const n = s.completeAll(["a", "b", "c"], "0", (id) => (id === "c" ? [ev("value", "0", 7)] : []), (id) => booked.push(id));
    expect(n).toBe(3);
    expect(booked).toEqual(["a", "b", "c"]);
    const [d] = s.takeReady();
    expect(names([d!])).toEqual(["d@0"]);
    expect(d!.inputs).toEqual({ left: 7, right: 2 });
  });

  it("completes the root epoch like as many complete() calls, and skips what was already booked", async () => {
    const s = new Scheduler(await chain());
    s.openEpoch(3);
    s.complete("a", "3", [ev("index", "3", 0)]);
    expect(s.completeAll(["a", "b", "c", "d"], "3", () => [])).toBe(3);
    expect(s.takeCompleted()).toEqual([3]);
    // A duplicate (the same entry heard twice) and a closed epoch are no news.
    expect(s.completeAll(["a", "b", "c", "d"], "3", () => [])).toBe(0);
    s.closeEpoch(3);
    expect(s.completeAll(["a"], "3", () => [])).toBe(0);
  });

  it("ignores a key that is not a root epoch's, and unknown nodes", async () => {
    const s = new Scheduler(await chain());
    s.openEpoch(0);
    expect(s.completeAll(["a"], "0/m.1", () => [])).toBe(0);
    expect(s.completeAll(["a"], "x", () => [])).toBe(0);
    expect(s.completeAll(["nope"], "0", () => [])).toBe(0);
    expect(s.isComplete(0)).toBe(false);
  });

  it("refuses a node inside a map: its completions are per sub-epoch", async () => {
    const tube = await tubeOf({
      m: { type: "cycle", params: { values: [["a", "b"]] } },
      b: { type: "map", depends: [{ value: "m.value" }] },
      c: { type: "exclaim", depends: [{ value: "b.value" }] },
    });
    const s = new Scheduler(tube);
    s.openEpoch(0);
    expect(() => s.completeAll(["m", "b", "c"], "0", () => [])).toThrow(/sub-epochs/);
  });

  it("a map booked this way opens its sub-epochs from its item events", async () => {
    const tube = await tubeOf({
      m: { type: "cycle", params: { values: [["a", "b"]] } },
      b: { type: "map", depends: [{ value: "m.value" }] },
      c: { type: "exclaim", depends: [{ value: "b.value" }] },
    });
    const s = new Scheduler(tube, { local: ["c"] });
    s.openEpoch(0);
    const items = [ev("value", subKey("0", "b", 0), "a"), ev("value", subKey("0", "b", 1), "b"), ev("n", "0", 2)];
    s.completeAll(["m", "b"], "0", (id) => (id === "b" ? items : [ev("value", "0", ["a", "b"])]));
    expect(names(s.takeReady()).sort()).toEqual(["c@0/b.0", "c@0/b.1"]);
  });
});

describe("scheduler - values", () => {
  it("a signal the node does not declare (from a confused peer) is not kept; the declared ones still reach their readers", async () => {
    const tube = await tubeOf({ a: { type: "count" }, b: { type: "multiply", depends: [{ left: "a.index" }], params: { right: 3 } } });
    const s = new Scheduler(tube, { local: ["b"] });
    s.openEpoch(0);
    s.complete("a", "0", [ev("bogus", "0", 99), ev("index", "0", 4)]);
    expect(s.valueOf(0, "a", "bogus")).toBeUndefined();
    expect(s.valueOf(0, "a", "index")).toBe(4);
    expect(s.takeReady()[0]!.inputs).toEqual({ left: 4, right: 3 });
  });
});
