import { describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { InputError, NodeError, TubularError } from "../../src/errors.ts";
import { defineNode } from "../../src/node/define.ts";
import type { NodeDefinition } from "../../src/node/definition.ts";
import { LocalRunner } from "../../src/runner/local.ts";
import type { TubeEvent } from "../../src/runner/runner.ts";
import { loadTubeFromSpec } from "../../src/spec/load.ts";

async function runnerOf(spec: Record<string, unknown>, nodeTypes: Record<string, NodeDefinition> = {}, maxInFlight?: number): Promise<LocalRunner> {
  const tube = await loadTubeFromSpec(spec, { baseDir: process.cwd(), nodeTypes });
  const runner = new LocalRunner(tube, maxInFlight ? { maxInFlight } : {});
  await runner.init();
  return runner;
}

const counting = { nodes: { a: { type: "count" }, b: { type: "multiply", depends: [{ left: "a.index" }], params: { right: 2 } }, r: { type: "return", depends: "b.value" } } };

describe("local runner - inputs", () => {
  it("a missing process input fails with an InputError naming it, before any node runs, and uses no epoch", async () => {
    const ran = vi.fn();
    const spy = defineNode({ process: () => ran() ?? "ran" });
    const runner = await runnerOf(
      {
        input: { x: { scope: "process", type: "number" } },
        nodes: { s: { type: "spy" }, a: { type: "count" }, b: { type: "add", depends: [{ left: "a.index" }, { right: "input.x" }] }, r: { type: "return", depends: "b.value" } },
      },
      { spy },
    );
    const err = await runner.process().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).code).toBe("TUBULAR_ERR_INPUT_MISSING");
    expect((err as InputError).input).toBe("x");
    expect(ran).not.toHaveBeenCalled();
    const wrong = await runner.process({ x: "1" }).catch((e: unknown) => e);
    expect((wrong as InputError).code).toBe("TUBULAR_ERR_INPUT_INVALID");
    // The failed calls used no epoch: count starts at 0.
    expect(await runner.process({ x: 10 })).toBe(10);
    expect(await runner.process({ x: 10 })).toBe(11);
    expect(ran).toHaveBeenCalledTimes(2);
    await runner.deinit();
  });

  it("a process input with a default may be left out", async () => {
    const runner = await runnerOf({
      input: { x: { scope: "process", type: "number", default: 7 } },
      nodes: { b: { type: "add", depends: [{ left: "input.x" }], params: { right: 1 } }, r: { type: "return", depends: "b.value" } },
    });
    expect(await runner.process()).toBe(8);
    expect(await runner.process({ x: 1 })).toBe(2);
    await runner.deinit();
  });
});

describe("local runner - node errors", () => {
  it("a node error rejects process() with the node id, epoch, original message and stack", async () => {
    const boom = defineNode({
      slots: { value: z.number() },
      process: function boomNode({ value }) {
        if (value === 2) throw new RangeError(`bad value ${value}`);
        return value;
      },
    });
    const runner = await runnerOf({ nodes: { a: { type: "count" }, b: { type: "boom", depends: "a.index" }, r: { type: "return", depends: "b.value" } } }, { boom });
    expect(await runner.process()).toBe(0);
    expect(await runner.process()).toBe(1);
    const err = (await runner.process().catch((e: unknown) => e)) as NodeError;
    expect(err).toBeInstanceOf(NodeError);
    expect(err.code).toBe("TUBULAR_ERR_NODE_FAILED");
    expect(err.nodeId).toBe("b");
    expect(err.epoch).toBe(2);
    expect(err.errorType).toBe("RangeError");
    expect(err.errorMessage).toBe("bad value 2");
    expect(err.remoteStack).toMatch(/boomNode/);
    // The runner carries on with the next epoch.
    expect(await runner.process()).toBe(3);
    await runner.deinit();
  });

  it("an async node's rejection is a NodeError too; an error inside a map names the sub-epoch", async () => {
    const bad = defineNode({
      slots: { value: z.string() },
      process: async ({ value }) => {
        if (value === "x") throw new Error("no x");
        return value;
      },
    });
    const runner = await runnerOf(
      { nodes: { s: { type: "cycle", params: { values: [["a", "x"]] } }, m: { type: "map", depends: "s.value" }, b: { type: "bad", depends: "m.value" }, r: { type: "return", depends: "b.value" } } },
      { bad },
    );
    const err = (await runner.process().catch((e: unknown) => e)) as NodeError;
    expect(err.nodeId).toBe("b");
    expect(err.epoch).toEqual([0, ["m", 1]]);
    expect(err.errorMessage).toBe("no x");
    await runner.deinit();
  });

  it("a node that throws in init fails init() with TUBULAR_ERR_NODE_INIT", async () => {
    const tube = await loadTubeFromSpec({ nodes: { a: { type: "cycle", params: { values: [] } } } }, { baseDir: process.cwd() });
    const runner = new LocalRunner(tube);
    const err = (await runner.init().catch((e: unknown) => e)) as NodeError;
    expect(err.code).toBe("TUBULAR_ERR_NODE_INIT");
    expect(err.nodeId).toBe("a");
    expect(runner.state).toBe("failed");
  });

  it("free-run stops at a node error and rejects with it", async () => {
    const runner = await runnerOf({
      nodes: {
        a: { type: "count", params: { start: -3 } },
        b: { type: "divide", depends: [{ denominator: "a.index" }], params: { numerator: 1 } },
        r: { type: "return", depends: "b.value" },
      },
    });
    const errors: Error[] = [];
    runner.on("error", (e) => errors.push(e));
    const err = (await runner.run(10).catch((e: unknown) => e)) as NodeError;
    expect(err.nodeId).toBe("b");
    expect(err.epoch).toBe(3);
    expect(err.errorMessage).toMatch(/division by zero/);
    expect(errors).toEqual([err]);
    expect(runner.state).toBe("ready");
    await runner.deinit();
  });
});

describe("local runner - free-run, iter, events", () => {
  it("run(n) runs n epochs and resolves with each epoch's value in order", async () => {
    const runner = await runnerOf(counting);
    expect(await runner.run(4)).toEqual([0, 2, 4, 6].map((value, epoch) => ({ epoch, value })));
    await runner.deinit();
  });

  it("start() and stop() free-run; the next run resumes from the next epoch", async () => {
    const runner = await runnerOf(counting, {}, 4);
    const epochs: number[] = [];
    runner.on("epoch", (r) => epochs.push(r.epoch));
    await runner.start();
    expect(runner.state).toBe("running");
    await new Promise((r) => setTimeout(r, 30));
    await runner.stop();
    expect(runner.state).toBe("ready");
    const n = epochs.length;
    expect(n).toBeGreaterThan(0);
    expect(epochs).toEqual([...Array(n).keys()]);
    const next = await runner.run(2);
    expect(next.map((r) => r.epoch)).toEqual([n, n + 1]);
    expect(next.map((r) => r.value)).toEqual([2 * n, 2 * (n + 1)]);
    expect(await runner.process()).toBe(2 * (n + 2));
    await runner.deinit();
  });

  it("an unbounded free-run of a synchronous graph lets timers run, so stop() ends it", async () => {
    const runner = await runnerOf(counting);
    const done = runner.run();
    const stopped = await new Promise<number>((resolve) => setTimeout(() => runner.stop().then(() => resolve(Date.now())), 20));
    expect(await done).toEqual([]);
    expect(stopped).toBeGreaterThan(0);
    await runner.deinit();
  });

  it("free-run keeps at most maxInFlight epochs open with slow nodes", async () => {
    let running = 0;
    let peak = 0;
    const slow = defineNode({
      slots: { value: z.number() },
      stateful: false,
      process: async ({ value }) => {
        peak = Math.max(peak, ++running);
        await new Promise((r) => setTimeout(r, 2));
        running--;
        return value;
      },
    });
    const runner = await runnerOf({ nodes: { a: { type: "count" }, b: { type: "slow", depends: "a.index" }, r: { type: "return", depends: "b.value" } } }, { slow }, 3);
    const results = await runner.run(12);
    expect(results.map((r) => r.value)).toEqual([...Array(12).keys()]);
    expect(peak).toBeLessThanOrEqual(3);
    expect(peak).toBeGreaterThan(1);
    await runner.deinit();
  });

  it("iter(n) yields each epoch's value; with inputs, one per epoch until they run out", async () => {
    const runner = await runnerOf({
      input: { x: { scope: "process", type: "number" } },
      nodes: { b: { type: "multiply", depends: [{ left: "input.x" }], params: { right: 3 } }, r: { type: "return", depends: "b.value" } },
    });
    const out: unknown[] = [];
    for await (const v of runner.iter(5, [{ x: 1 }, { x: 2 }])) out.push(v);
    expect(out).toEqual([3, 6]);
    await runner.deinit();
    const counter = await runnerOf(counting);
    const values: unknown[] = [];
    for await (const v of counter.iter(3)) values.push(v);
    expect(values).toEqual([0, 2, 4]);
    await counter.deinit();
  });

  it("emits an event per emitted signal and an epoch event per finished epoch", async () => {
    const runner = await runnerOf({
      nodes: { s: { type: "cycle", params: { values: [["p", "q"]] } }, m: { type: "map", depends: "s.value" }, x: { type: "exclaim", depends: "m.value" }, r: { type: "return", depends: "x.value" } },
    });
    const events: TubeEvent[] = [];
    const epochs: unknown[] = [];
    runner.on("event", (e) => events.push(e));
    runner.on("epoch", (r) => epochs.push(r));
    expect(await runner.process()).toEqual(["p!", "q!"]);
    const summary = events.map((e) => [e.node_id, e.signal, e.epoch, e.value]);
    expect(summary).toEqual(
      expect.arrayContaining([
        ["s", "value", 0, ["p", "q"]],
        ["m", "value", [0, ["m", 0]], "p"],
        ["m", "value", [0, ["m", 1]], "q"],
        ["m", "n", 0, 2],
        ["x", "value", [0, ["m", 0]], "p!"],
        ["x", "value", [0, ["m", 1]], "q!"],
      ]),
    );
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    for (const e of events) expect(typeof e.timestamp).toBe("number");
    expect(epochs).toEqual([{ epoch: 0, value: ["p!", "q!"] }]);
    await runner.deinit();
  });
});

describe("local runner - life cycle", () => {
  it("deinit releases every node (in reverse order) and the runner refuses further calls", async () => {
    const released: string[] = [];
    const make = (name: string) => defineNode({ slots: { value: z.number().optional() }, init: () => name, process: () => 1, deinit: (s) => void released.push(s) });
    const runner = await runnerOf(
      { nodes: { first: { type: "one" }, second: { type: "two", depends: "first.value" }, r: { type: "return", depends: "second.value" } } },
      { one: make("one"), two: make("two") },
    );
    expect(await runner.process()).toBe(1);
    await runner.deinit();
    expect(released).toEqual(["two", "one"]);
    expect(runner.state).toBe("closed");
    const err = (await runner.process().catch((e: unknown) => e)) as TubularError;
    expect(err.code).toBe("TUBULAR_ERR_RUNNER_STATE");
    await runner.deinit(); // twice is fine
  });

  it("process() before init() is refused", async () => {
    const tube = await loadTubeFromSpec(counting, { baseDir: process.cwd() });
    const runner = new LocalRunner(tube);
    await expect(runner.process()).rejects.toMatchObject({ code: "TUBULAR_ERR_RUNNER_STATE" });
  });

  it("a graph without a return node returns null for every epoch", async () => {
    const runner = await runnerOf({ nodes: { a: { type: "count" } } });
    expect(await runner.process()).toBeNull();
    await runner.deinit();
  });
});

describe("local runner - free-run failures and closed()", () => {
  const failing = {
    nodes: {
      a: { type: "count", params: { start: 3, step: -1 } },
      b: { type: "divide", depends: [{ denominator: "a.index" }], params: { numerator: 6 } },
      r: { type: "return", depends: "b.value" },
    },
  };

  /** Fails at its fourth call, after start() has returned. */
  const late = () => {
    let calls = 0;
    return defineNode({
      process: async () => {
        await new Promise((r) => setTimeout(r, 2));
        if (++calls > 3) throw new Error("late failure");
        return calls;
      },
    });
  };

  it("a free-run that fails before start() returns rejects start()", async () => {
    const runner = await runnerOf(failing);
    const err = (await runner.start().catch((e: unknown) => e)) as NodeError;
    expect(err).toBeInstanceOf(NodeError);
    expect(err.nodeId).toBe("b");
    expect(err.epoch).toBe(3);
    await runner.deinit();
    await expect(runner.closed()).resolves.toBeUndefined();
  });

  it("a free-run begun by start() that fails later rejects stop() with the node's error, once", async () => {
    const runner = await runnerOf({ nodes: { s: { type: "late" }, r: { type: "return", depends: "s.value" } } }, { late: late() }, 1);
    await runner.start();
    await new Promise<void>((resolve) => runner.once("error", () => resolve()));
    const err = (await runner.stop().catch((e: unknown) => e)) as NodeError;
    expect(err).toBeInstanceOf(NodeError);
    expect(err.nodeId).toBe("s");
    expect(err.errorMessage).toBe("late failure");
    await expect(runner.stop()).resolves.toBeUndefined();
    await runner.deinit();
    await expect(runner.closed()).resolves.toBeUndefined();
  });

  it("a failed free-run nobody stopped is what closed() resolves with after deinit", async () => {
    const runner = await runnerOf({ nodes: { s: { type: "late" }, r: { type: "return", depends: "s.value" } } }, { late: late() }, 1);
    const failed = new Promise<void>((resolve) => runner.once("error", () => resolve()));
    await runner.start();
    await failed;
    await runner.deinit();
    const err = (await runner.closed()) as NodeError;
    expect(err).toBeInstanceOf(NodeError);
    expect(err.nodeId).toBe("s");
  });

  it("stop() of a clean free-run resolves, and closed() resolves with undefined after deinit", async () => {
    const runner = await runnerOf(counting);
    await runner.start();
    await runner.stop();
    await runner.deinit();
    await expect(runner.closed()).resolves.toBeUndefined();
  });

  it("a failed init is what closed() resolves with", async () => {
    const broken = defineNode({ init: () => { throw new Error("no camera attached"); }, process: () => 1 });
    const tube = await loadTubeFromSpec({ nodes: { x: { type: "broken" } } }, { baseDir: process.cwd(), nodeTypes: { broken } });
    const runner = new LocalRunner(tube);
    const err = await runner.init().catch((e: unknown) => e);
    expect(await runner.closed()).toBe(err);
  });
});
