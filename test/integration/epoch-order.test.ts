/**
 * Epochs that reach a node out of order (noob's test_statefulness /
 * test_statelessness): a stateless node runs each as soon as it can, a
 * stateful one waits its turn. One case, on the in-process runner and on the
 * ZeroMQ runner with one process per node (the order then crosses processes).
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Tube } from "../../src/graph/tube.ts";
import type { Runner, TubeEvent } from "../../src/runner/runner.ts";
import { LocalRunner } from "../../src/runner/local.ts";
import { ZmqRunner } from "../../src/runner/zmq/zmq-runner.ts";
import { loadTubeFromSpec } from "../../src/spec/load.ts";
import { projectRoot } from "../helpers/acceptance.ts";
import { devNull } from "../helpers/zmq-runners.ts";

const runners: Record<string, (tube: Tube) => Runner> = {
  local: (tube) => new LocalRunner(tube, { maxInFlight: 4 }),
  "zmq per-node": (tube) => new ZmqRunner(tube, { output: devNull, processes: "per-node", maxInFlight: 4 }),
};

const open: Runner[] = [];
afterEach(async () => {
  for (const r of open.splice(0)) await r.deinit();
});

const fixture = "./test/fixtures/nodes/ordering.ts";
const spec = {
  nodes: {
    s: { type: "count" },
    // Even epochs take 400 ms here, odd ones none: epoch 1 is done long before epoch 0.
    lag: { type: `${fixture}#lagEven`, depends: [{ value: "s.index" }], params: { ms: 400 } },
    order: { type: `${fixture}#callOrder`, depends: [{ value: "lag.value" }] },
    r: { type: "return", depends: [{ value: "order.value" }, { call: "order.call" }] },
  },
};

for (const [name, make] of Object.entries(runners)) {
  describe(`epoch order - ${name} runner`, () => {
    it("a stateless node finishes epochs out of order; the stateful node after it still runs them in order", async () => {
      const r = make(await loadTubeFromSpec(spec, { baseDir: projectRoot }));
      open.push(r);
      const events: TubeEvent[] = [];
      r.on("event", (e) => events.push(e));
      await r.init();
      const results = await r.run(6);
      // The stateless node did not wait for epoch 0 to finish epoch 1 (nor 2 for 3, 4 for 5).
      const lagOrder = events.filter((e) => e.node_id === "lag").map((e) => e.epoch);
      expect([...lagOrder].sort()).toEqual([0, 1, 2, 3, 4, 5]);
      expect(lagOrder.indexOf(1)).toBeLessThan(lagOrder.indexOf(0));
      // The stateful node ran epoch e as its e-th call, with epoch e's value.
      expect(results.map((x) => x.value)).toEqual([0, 1, 2, 3, 4, 5].map((e) => ({ value: e, call: e })));
      const calls = events.filter((e) => e.node_id === "order" && e.signal === "call");
      expect(calls.map((e) => [e.epoch, e.value])).toEqual([0, 1, 2, 3, 4, 5].map((e) => [e, e]));
    }, 120_000);
  });
}
