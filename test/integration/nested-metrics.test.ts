/**
 * nested tubes - `ctx.log` inside a nested tube reaches the outer runner's
 * `metric` listeners as its own nodes' metrics do: named by the path of tube
 * nodes down to the inner node, with the outer epoch as the default step. On
 * the in-process runner and on the ZeroMQ runner (the nested tube runs inside
 * a node runner process).
 */
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import type { Tube } from "../../src/graph/tube.ts";
import type { NodeMetric } from "../../src/node/metrics.ts";
import type { Runner } from "../../src/runner/runner.ts";
import { LocalRunner } from "../../src/runner/local.ts";
import { ZmqRunner } from "../../src/runner/zmq/zmq-runner.ts";
import { loadTubeFromSpec } from "../../src/spec/load.ts";
import { devNull } from "../helpers/zmq-runners.ts";

const FIX = fileURLToPath(new URL("../fixtures/nested-metrics/", import.meta.url));

/** count 0..; evens passes 0, 2, 4 on; `inner` runs child.yaml on them, `nest` runs mid.yaml (which runs child.yaml). */
const GRAPH = {
  noob_id: "nested-metrics",
  nodes: {
    count: { type: "count" },
    evens: { type: "./nodes.ts#evens", depends: [{ index: "count.index" }] },
    inner: { type: "tube", params: { tube: "./child.yaml" }, depends: [{ x: "evens.value" }] },
    nest: { type: "tube", params: { tube: "./mid.yaml" }, depends: [{ x: "evens.value" }] },
    return: { type: "return", depends: [{ inner: "inner.value" }, { nest: "nest.value" }] },
  },
};

const runners: Record<string, (tube: Tube) => Runner> = {
  local: (tube) => new LocalRunner(tube),
  "zmq per-node": (tube) => new ZmqRunner(tube, { output: devNull, processes: "per-node" }),
};

const open: Runner[] = [];
afterEach(async () => {
  for (const r of open.splice(0)) await r.deinit();
});

const byKey = (a: NodeMetric, b: NodeMetric) => `${a.nodeId} ${a.name} ${a.step}`.localeCompare(`${b.nodeId} ${b.name} ${b.step}`);

describe.each(Object.entries(runners))("nested tubes - metrics (%s)", (_name, make) => {
  it("an inner node's ctx.log reaches the outer runner, named tube/…/node, stepped by the outer epoch", async () => {
    const runner = make(await loadTubeFromSpec(GRAPH, { baseDir: FIX }));
    open.push(runner);
    const seen: NodeMetric[] = [];
    runner.on("metric", (m: NodeMetric) => seen.push(m));
    await runner.init();
    const results: unknown[] = [];
    for (let i = 0; i < 5; i++) results.push(await runner.process());
    // Deinit first: a runner process sends its last metrics before it reports closed.
    open.splice(open.indexOf(runner), 1);
    await runner.deinit();

    expect(results).toEqual([{ inner: 0, nest: 0 }, null, { inner: 2, nest: 2 }, null, { inner: 4, nest: 4 }]);
    const expected: NodeMetric[] = [];
    for (const nodeId of ["inner/logger", "nest/deep/logger"]) {
      for (const x of [0, 2, 4]) {
        expected.push({ nodeId, name: "x", value: x, step: x }, { nodeId, name: "x_at", value: x, step: 1000 + x });
      }
    }
    expect([...seen].sort(byKey)).toEqual(expected.sort(byKey));
  });
});
