import { describe, it } from "vitest";
import { ZmqRunner } from "../../src/runner/zmq/zmq-runner.ts";
import { acceptanceCases, checkCase } from "../helpers/acceptance.ts";
import { devNull } from "../helpers/zmq-runners.ts";


describe("acceptance - zmq runner", () => {
  for (const c of acceptanceCases()) {
    it(`${c.name} gives the expected value of every epoch`, () => checkCase(c, (tube) => new ZmqRunner(tube, { output: devNull })));
    it(`${c.name} (one group: one runner process, edges as plain calls) gives the same values`, () =>
      checkCase(c, (tube) => new ZmqRunner(tube, { output: devNull }), withGroup(c.graph)));
  }
});

/** The same graph with every node but the return node in one group. */
function withGroup(graph: Record<string, unknown>): Record<string, unknown> {
  const nodes = graph.nodes as Record<string, Record<string, unknown>>;
  return { ...graph, nodes: Object.fromEntries(Object.entries(nodes).map(([id, n]) => [id, n.type === "return" ? n : { ...n, group: "all" }])) };
}
