import { describe, expect, it } from "vitest";
import { loadTubeFromSpec } from "../../src/spec/load.ts";
import type { EpochResult, TubeEvent } from "../../src/runner/runner.ts";
import { LocalRunner } from "../../src/runner/local.ts";
import { projectRoot } from "../helpers/acceptance.ts";
import { until } from "../helpers/until.ts";
import { useZmqRunners } from "../helpers/zmq-runners.ts";
import type { ZmqRunner } from "../../src/runner/zmq/zmq-runner.ts";

const started = useZmqRunners();

const chain3 = (group?: string) => ({
  noob_id: "chain3",
  nodes: {
    a: { type: "count", ...(group ? { group } : {}) },
    b: { type: "multiply", depends: [{ left: "a.index" }], params: { right: 2 }, ...(group ? { group } : {}) },
    c: { type: "add", depends: [{ left: "b.value" }], params: { right: 1 }, ...(group ? { group } : {}) },
    return: { type: "return", depends: "c.value" },
  },
});

describe("zmq runner - free-run", () => {
  for (const group of [undefined, "g"]) {
    it(`run(n) returns every epoch's value in order${group ? " (grouped)" : ""}`, async () => {
      const runner = await started(chain3(group));
      const results = await runner.run(500);
      expect(results.map((r) => r.epoch)).toEqual(Array.from({ length: 500 }, (_, i) => i));
      expect(results.map((r) => r.value)).toEqual(Array.from({ length: 500 }, (_, i) => 2 * i + 1));
    });
  }

  it("a diamond with a map and a sporadic branch gives the local runner's values, epoch by epoch", async () => {
    const spec = {
      noob_id: "diamond",
      nodes: {
        a: { type: "count" },
        s: { type: "sporadic", params: { values: ["x", "y"], every: 3 } },
        b: { type: "multiply", depends: [{ left: "a.index" }], params: { right: 2 } },
        c: { type: "add", depends: [{ left: "a.index" }], params: { right: 100 } },
        d: { type: "add", depends: [{ left: "b.value" }, { right: "c.value" }] },
        l: { type: "cycle", params: { values: [["p", "q"], ["r"]] } },
        m: { type: "map", depends: [{ value: "l.value" }] },
        e: { type: "exclaim", depends: [{ value: "m.value" }] },
        g: { type: "gather", depends: [{ value: "e.value" }, { n: "m.n" }] },
        k: { type: "dictify", depends: [{ key: "s.value" }, { items: "d.value" }] },
        return: { type: "return", depends: [{ d: "d.value" }, { a: "a.index" }, { k: "k.value" }, { g: "g.value" }] },
      },
    };
    const local = new LocalRunner(await loadTubeFromSpec(spec, { baseDir: projectRoot }));
    await local.init();
    const expected = await local.run(1500);
    await local.deinit();
    const runner = await started(spec, { maxInFlight: 64 });
    const got = await runner.run(1500);
    expect(got).toEqual(expected);
  });

  it("over tcp on one machine, the same values", async () => {
    const runner = await started(chain3(), { transport: "tcp" });
    expect((await runner.run(300)).map((r) => r.value)).toEqual(Array.from({ length: 300 }, (_, i) => 2 * i + 1));
  });

  it("start() / stop() leave nodes initialized and start() resumes from the next epoch", async () => {
    const runner = await started(chain3());
    const seen: EpochResult[] = [];
    runner.on("epoch", (r) => seen.push(r));
    await runner.start();
    await until(() => seen.length > 10, 10_000, "more than ten epochs of free-run");
    await runner.stop();
    expect(runner.state).toBe("ready");
    const first = seen.length;
    expect(first).toBeGreaterThan(10);
    // Stateful count continues: the next process() is epoch `first`, index `first`.
    expect(await runner.process()).toBe(2 * first + 1);
    await runner.run(50);
    const epochs = seen.map((r) => r.epoch).sort((a, b) => a - b);
    // The process() epoch is reported too: every epoch from 0 on, none lost, none twice.
    expect(epochs).toEqual(Array.from({ length: epochs.length }, (_, i) => i));
    expect(epochs.length).toBe(first + 1 + 50);
    expect(seen.every((r) => r.value === 2 * r.epoch + 1)).toBe(true);
  });

  it("backpressure: a slow node holds the sources to the window of epochs in flight", async () => {
    const maxInFlight = 4;
    let sourced = 0;
    let ended = 0;
    let worst = 0;
    // Before init: "a" is read only inside its runner, so its events travel only once a listener asks.
    const listen = (runner: ZmqRunner) =>
      runner.on("event", (e: TubeEvent) => {
        if (e.node_id === "a") {
          sourced++;
          worst = Math.max(worst, sourced - ended);
        }
      });
    const runner = await started(
      {
        noob_id: "slow",
        nodes: {
          a: { type: "count" },
          b: { type: "sleep", depends: [{ value: "a.index" }], params: { ms: 20 } },
          return: { type: "return", depends: "b.value" },
        },
      },
      { maxInFlight },
      listen,
    );
    runner.on("epoch", () => ended++);
    const results = await runner.run(30);
    expect(results.map((r) => r.value)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(worst).toBeLessThanOrEqual(maxInFlight);
    expect(worst).toBeGreaterThan(1);
  });

  it("a node error in free-run rejects run() with the node and epoch", async () => {
    const runner = await started({
      noob_id: "err",
      nodes: {
        a: { type: "count", params: { start: 5, step: -1 } },
        b: { type: "divide", depends: [{ denominator: "a.index" }], params: { numerator: 1 } },
        return: { type: "return", depends: "b.value" },
      },
    });
    await expect(runner.run(20)).rejects.toMatchObject({ nodeId: "b", epoch: 5, code: "TUBULAR_ERR_NODE_FAILED" });
  });
});
