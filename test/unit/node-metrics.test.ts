import { describe, expect, it } from "vitest";
import { NodeMetrics } from "../../src/runner/node-metrics.ts";
import { LocalRunner } from "../../src/runner/local.ts";
import { loadTubeFromSpec } from "../../src/spec/load.ts";

describe("node metrics", () => {
  it("node metrics - counts runs, errors and events per signal, and gives p50/p99 of the recent runs", () => {
    const m = new NodeMetrics();
    expect(m.report()).toEqual({});
    for (let i = 1; i <= 100; i++) m.record("a", i, [{ signal: "value", key: String(i), value: i }]);
    m.record("a", 0.5, undefined);
    m.record("b", 3, [{ signal: "x", key: "1", value: 1 }, { signal: "y", key: "1", value: 2 }]);
    m.record("b", 4, []);
    const r = m.report();
    expect(r.a).toMatchObject({ runs: 101, errors: 1, events: { value: 100 } });
    expect(r.a!.p50Ms).toBe(50);
    // Nearest rank: the 100th of 101 sorted values (0.5, 1 .. 100).
    expect(r.a!.p99Ms).toBe(99);
    expect(r.b).toEqual({ runs: 2, errors: 0, events: { x: 1, y: 1 }, p50Ms: 3, p99Ms: 4 });
    expect(m.total).toBe(103);
  });

  it("node metrics - percentiles follow the most recent 512 runs, counts do not forget", () => {
    const m = new NodeMetrics();
    for (let i = 0; i < 600; i++) m.record("a", 100, []);
    for (let i = 0; i < 512; i++) m.record("a", 1, []);
    expect(m.report().a).toMatchObject({ runs: 1112, p50Ms: 1, p99Ms: 1 });
  });

  it("node metrics - a LocalRunner measures its nodes where they run", async () => {
    const tube = await loadTubeFromSpec({ nodes: { a: { type: "count" }, b: { type: "multiply", depends: [{ left: "a.index" }], params: { right: 2 } } } }, { baseDir: process.cwd() });
    const r = new LocalRunner(tube);
    await r.init();
    for (let i = 0; i < 20; i++) await r.process();
    const m = r.nodeMetrics();
    expect(m.a).toMatchObject({ runs: 20, errors: 0, events: { index: 20 } });
    expect(m.b).toMatchObject({ runs: 20, errors: 0, events: { value: 20 } });
    expect(m.b!.p50Ms).toBeGreaterThanOrEqual(0);
    expect(m.b!.p99Ms).toBeGreaterThanOrEqual(m.b!.p50Ms!);
    await r.deinit();
  });
});
