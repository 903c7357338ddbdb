import { describe, expect, it } from "vitest";
import { loadTube } from "../../src/spec/load.ts";
import { ZmqRunner } from "../../src/runner/zmq/zmq-runner.ts";
import { NodeError } from "../../src/errors.ts";
import { acceptanceCases, approxEqual, writeCase } from "../helpers/acceptance.ts";

describe("acceptance - zmq runner", () => {
  for (const c of acceptanceCases()) {
    for (const grouped of [false, true]) {
      it(`${c.name}${grouped ? " (one group)" : ""} gives the expected value of every epoch`, async () => {
        const graph = grouped ? withGroup(c.graph) : c.graph;
        const { file, cleanup } = writeCase({ ...c, graph });
        const runner = new ZmqRunner(await loadTube(file, { input: c.tube_input ?? {} }));
        try {
          await runner.init();
          const values: unknown[] = [];
          let failure: unknown;
          for (let i = 0; i < c.epochs; i++) {
            try {
              values.push(await runner.process(c.process_inputs?.[i]));
            } catch (err) {
              failure = err;
              expect(c.expect_error, `unexpected error at epoch ${i}: ${String(err)}`).toBeDefined();
              expect(i).toBe(c.expect_error!.epoch);
              break;
            }
          }
          expect(approxEqual(values, c.expect), `got ${JSON.stringify(values)}, expected ${JSON.stringify(c.expect)}`).toBe(true);
          if (c.expect_error) {
            expect(failure).toBeInstanceOf(NodeError);
            const e = failure as NodeError;
            expect(e.nodeId).toBe(c.expect_error.node);
            expect(e.message).toContain(c.expect_error.contains);
            expect(e.remoteStack).toBeTruthy();
          }
        } finally {
          await runner.deinit();
          cleanup();
        }
      });
    }
  }
});

/** The same graph with every node in one group: one runner process, edges as plain calls. */
function withGroup(graph: Record<string, unknown>): Record<string, unknown> {
  const nodes = graph.nodes as Record<string, Record<string, unknown>>;
  return { ...graph, nodes: Object.fromEntries(Object.entries(nodes).map(([id, n]) => [id, n.type === "return" ? n : { ...n, group: "all" }])) };
}
