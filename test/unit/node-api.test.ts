import { describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { TubularError } from "../../src/errors.ts";
import type { Tube } from "../../src/graph/tube.ts";
import { defineNode, SourceEnded, toNodeDefinition } from "../../src/node/define.ts";
import { NoEvent, emissions, type NodeContext, type NodeDefinition, type NodeInstance } from "../../src/node/definition.ts";
import { gatherNode } from "../../src/node/special/gather.ts";
import { mapNode } from "../../src/node/special/map.ts";
import { LocalRunner } from "../../src/runner/local.ts";
import { loadTubeFromSpec } from "../../src/spec/load.ts";

const ctx = (over: Partial<NodeContext> = {}): NodeContext => ({ nodeId: "n", epoch: 0, collapsed: new Set(), ...over });
const init = { nodeId: "n", baseDir: process.cwd() };

async function instance(def: NodeDefinition, params: Record<string, unknown> = {}): Promise<NodeInstance> {
  return def.create(params, init);
}

/** Runs a graph whose node types come from this test, for `epochs` epochs. */
async function runGraph(nodeTypes: Record<string, NodeDefinition>, nodes: Record<string, unknown>, epochs: number): Promise<unknown[]> {
  const tube: Tube = await loadTubeFromSpec({ nodes }, { baseDir: process.cwd(), nodeTypes });
  const runner = new LocalRunner(tube);
  await runner.init();
  try {
    const out: unknown[] = [];
    for (let i = 0; i < epochs; i++) out.push(await runner.process());
    return out;
  } finally {
    await runner.deinit();
  }
}

describe("node API - defineNode", () => {
  it("refuses a definition without process", () => {
    expect(() => defineNode({} as never)).toThrow(TubularError);
    try {
      defineNode({} as never);
    } catch (e) {
      expect((e as TubularError).code).toBe("TUBULAR_ERR_NODE_DEFINITION");
    }
  });

  it("a slot whose schema accepts undefined is optional, with the schema's default", () => {
    const def = defineNode({
      slots: { value: z.number(), factor: z.number().default(2), note: z.string().optional() },
      process: ({ value, factor }) => value * factor,
    });
    expect(def.slots).toMatchObject({ value: { required: true }, factor: { required: false, default: 2 }, note: { required: false } });
    expect((def.slots as Record<string, { default?: unknown }>).note!.default).toBeUndefined();
  });

  it("signals default to one `value`; a list or a record of schemas names them", () => {
    expect(defineNode({ process: () => 1 }).signals).toEqual(["value"]);
    expect(defineNode({ signals: ["a", "b"], process: () => ({}) }).signals).toEqual(["a", "b"]);
    const def = defineNode({ signals: { low: z.number(), high: z.number() }, process: () => ({}) });
    expect(def.signals).toEqual(["low", "high"]);
    expect(Object.keys(def.signalSchemas!)).toEqual(["low", "high"]);
  });

  it("nodes are stateful unless declared stateless", () => {
    expect(defineNode({ process: () => 1 }).stateful).toBe(true);
    expect(defineNode({ stateful: false, process: () => 1 }).stateful).toBe(false);
  });

  it("validates and coerces slot values with their schemas, naming the slot on failure", async () => {
    const def = defineNode({ slots: { value: z.number(), factor: z.number().default(2) }, process: ({ value, factor }) => value * factor });
    const inst = await instance(def);
    expect(inst.process({ value: 3 }, ctx())).toBe(6);
    expect(() => inst.process({ value: "3" }, ctx())).toThrow(/slot "value"/);
  });

  it("init builds state from params once; process sees state and params; deinit gets the state", async () => {
    const deinit = vi.fn();
    const initFn = vi.fn((params: Record<string, unknown>) => ({ total: Number(params.start) }));
    const def = defineNode({
      slots: { value: z.number() },
      init: initFn,
      process: ({ value }, { state, params }) => {
        state.total += value;
        return `${params.label}:${state.total}`;
      },
      deinit,
    });
    const inst = await instance(def, { start: 10, label: "t" });
    expect(inst.process({ value: 1 }, ctx())).toBe("t:11");
    expect(inst.process({ value: 2 }, ctx())).toBe("t:13");
    await inst.deinit!();
    expect(initFn).toHaveBeenCalledTimes(1);
    expect(deinit).toHaveBeenCalledWith({ total: 13 });
  });

  it("process sees every field of the runner's context, beside state and params", async () => {
    const seen: unknown[] = [];
    const def = defineNode({ init: () => "s", process: (_inputs, c) => void seen.push(c) });
    const log = () => {};
    const collapsed = new Set(["x"]);
    await (await instance(def, { p: 1 })).process({}, ctx({ nodeId: "m", epoch: 7, collapsed, log }));
    expect(seen).toEqual([{ nodeId: "m", epoch: 7, collapsed, log, state: "s", params: { p: 1 } }]);
  });

  it("process may be async", async () => {
    const def = defineNode({ process: async () => 5 });
    await expect((await instance(def)).process({}, ctx())).resolves.toBe(5);
  });
});

describe("node API - functions, generators, classes", () => {
  it("a plain function takes one object of its slots and params, has one signal `value`, and is stateless", async () => {
    const fn = vi.fn(({ a, b, k }: { a: number; b: number; k: number }) => a + b + k);
    const def = toNodeDefinition(fn, "fn");
    expect(def.slots).toBe("any");
    expect(def.signals).toEqual(["value"]);
    expect(def.stateful).toBe(false);
    const inst = await instance(def, { k: 100 });
    expect(inst.process({ a: 1, b: 2 }, ctx())).toBe(103);
  });

  it("a function's static `signals` names several signals", () => {
    const fn = Object.assign(() => ({ lo: 1, hi: 2 }), { signals: ["lo", "hi"] });
    expect(toNodeDefinition(fn, "fn").signals).toEqual(["lo", "hi"]);
  });

  it("a generator function is a source: called once with the params, one value per epoch, SourceEnded once it returned", async () => {
    function* gen({ from }: { from: number }) {
      yield from;
      yield from + 1;
    }
    const def = toNodeDefinition(gen, "gen");
    expect(def.slots).toEqual({});
    expect(def.stateful).toBe(true);
    const inst = await instance(def, { from: 5 });
    expect([inst.process({}, ctx()), inst.process({}, ctx())]).toEqual([5, 6]);
    expect(() => inst.process({}, ctx())).toThrow(SourceEnded);
    expect(() => inst.process({}, ctx())).toThrow(SourceEnded);
    await inst.deinit!();
  });

  it("an async generator function is a source too", async () => {
    async function* gen() {
      yield "a";
      yield "b";
    }
    const inst = await instance(toNodeDefinition(gen, "gen"));
    expect(await inst.process({}, ctx())).toBe("a");
    expect(await inst.process({}, ctx())).toBe("b");
    await expect(inst.process({}, ctx())).rejects.toThrow(SourceEnded);
  });

  it("a class: constructed with the params, then init, process per epoch, deinit; statics declare slots and signals", async () => {
    const calls: string[] = [];
    class Acc {
      static slots = ["value"];
      static signals = ["sum", "count"];
      sum = 0;
      n = 0;
      constructor(readonly params: Record<string, unknown>) {
        calls.push(`new ${JSON.stringify(params)}`);
      }
      init() {
        calls.push("init");
      }
      process({ value }: { value: number }) {
        this.sum += value;
        this.n++;
        return { sum: this.sum, count: this.n };
      }
      deinit() {
        calls.push("deinit");
      }
    }
    const def = toNodeDefinition(Acc, "Acc");
    expect(def.slots).toEqual({ value: { required: true } });
    expect(def.signals).toEqual(["sum", "count"]);
    expect(def.stateful).toBe(true);
    const inst = await instance(def, { p: 1 });
    expect(inst.process({ value: 2 }, ctx())).toEqual({ sum: 2, count: 1 });
    expect(inst.process({ value: 3 }, ctx())).toEqual({ sum: 5, count: 2 });
    await inst.deinit!();
    expect(calls).toEqual(['new {"p":1}', "init", "deinit"]);
  });

  it("refuses what is not a definition, function or class, and a class without process", async () => {
    expect(() => toNodeDefinition(42, "x")).toThrow(/not a node definition/);
    class NoProcess {
      static signals = ["value"];
    }
    await expect(instance(toNodeDefinition(NoProcess, "NoProcess"))).rejects.toThrow(/no process method/);
  });

  it("the four forms run in one graph", async () => {
    const values = await runGraph(
      {
        src: toNodeDefinition(function* () {
          for (let i = 1; ; i++) yield i;
        }, "src"),
        twice: defineNode({ slots: { value: z.number() }, process: ({ value }) => value * 2 }),
        plus: toNodeDefinition(({ value }: { value: number }) => value + 1, "plus"),
        Keep: toNodeDefinition(
          class {
            static slots = ["value"];
            process({ value }: { value: number }) {
              return value % 2 === 1 ? value : NoEvent;
            }
          },
          "Keep",
        ),
      },
      {
        a: { type: "src" },
        b: { type: "twice", depends: "a.value" },
        c: { type: "plus", depends: "b.value" },
        d: { type: "Keep", depends: "c.value" },
        r: { type: "return", depends: [{ b: "b.value" }, { d: "d.value" }] },
      },
      2,
    );
    expect(values).toEqual([
      { b: 2, d: 3 },
      { b: 4, d: 5 },
    ]);
  });
});

describe("node API - signals and NoEvent", () => {
  const multi = defineNode({ signals: ["a", "b"], process: () => ({}) });

  it("a node with several signals returns an object keyed by signal; missing or NoEvent keys emit nothing", () => {
    expect(emissions(multi, { a: 1, b: 2 })).toEqual([["a", 1], ["b", 2]]);
    expect(emissions(multi, { a: 1, b: NoEvent })).toEqual([["a", 1]]);
    expect(emissions(multi, { b: 0 })).toEqual([["b", 0]]);
  });

  it("undefined or NoEvent as the whole result emits nothing", () => {
    const one = defineNode({ process: () => 1 });
    expect(emissions(one, undefined)).toEqual([]);
    expect(emissions(one, NoEvent)).toEqual([]);
    expect(emissions(multi, NoEvent)).toEqual([]);
    expect(emissions(one, null)).toEqual([["value", null]]); // null is a value
  });

  it("a multi-signal node that returns a non-object fails", () => {
    expect(() => emissions(multi, 3)).toThrow(/object keyed by signal/);
  });

  it("NoEvent is one shared symbol, the same in every copy of the library", () => {
    expect(NoEvent).toBe(Symbol.for("tubular.NoEvent"));
  });

  it("a NoEvent keeps nodes with that required slot from running; the epoch still returns", async () => {
    const seen: number[] = [];
    const values = await runGraph(
      {
        odd: defineNode({ slots: { value: z.number() }, process: ({ value }) => (value % 2 ? value : NoEvent) }),
        spy: defineNode({ slots: { value: z.number() }, process: ({ value }) => (seen.push(value), value) }),
      },
      { a: { type: "count" }, b: { type: "odd", depends: "a.index" }, c: { type: "spy", depends: "b.value" }, r: { type: "return", depends: "c.value" } },
      4,
    );
    expect(values).toEqual([null, 1, null, 3]);
    expect(seen).toEqual([1, 3]);
  });
});

describe("node API - special nodes", () => {
  it("gather emits the collected values in order once it holds n (from params)", async () => {
    const g = await instance(gatherNode, { n: 2 });
    expect(g.process({ value: "a" }, ctx())).toBeUndefined();
    expect(g.process({ value: "b" }, ctx())).toEqual(["a", "b"]);
    expect(g.process({ value: "c" }, ctx())).toBeUndefined();
  });

  it("gather's n slot overrides its param", async () => {
    const g = await instance(gatherNode, { n: 5 });
    expect(g.process({ value: 1, n: 1 }, ctx())).toEqual([1]);
  });

  it("gather emits on a trigger event, the triggering epoch's value included", async () => {
    const g = await instance(gatherNode);
    expect(g.process({ value: 1 }, ctx())).toBeUndefined();
    expect(g.process({ value: 2 }, ctx())).toBeUndefined();
    expect(g.process({ value: 3, trigger: true }, ctx())).toEqual([1, 2, 3]);
    expect(g.process({ value: 4, trigger: 0 }, ctx())).toEqual([4]);
  });

  it("gather reading from inside a map collects each item of the collapsed list", async () => {
    const g = await instance(gatherNode);
    const collapsed = ctx({ collapsed: new Set(["value"]) });
    expect(g.process({ value: ["a", "b"], n: 2 }, collapsed)).toEqual(["a", "b"]);
    expect(g.process({ value: ["c"], n: 3 }, collapsed)).toBeUndefined();
    expect(g.process({ value: ["d", "e"], n: 3 }, collapsed)).toEqual(["c", "d", "e"]);
  });

  it("map needs a list and gives its items and count", async () => {
    const m = await instance(mapNode);
    expect(m.process({ value: [1, 2] }, ctx())).toEqual({ value: [1, 2], n: 2 });
    expect(() => m.process({ value: 3 }, ctx())).toThrow(/map needs a list/);
  });
});
