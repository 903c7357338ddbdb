import { describe, expect, it } from "vitest";
import { NodeError } from "../../src/errors.ts";
import type { Message } from "../../src/protocol/message.ts";
import { Conditions } from "../../src/runner/zmq/conditions.ts";
import { NodeTable } from "../../src/runner/zmq/node-table.ts";
import type { Placement, RunnerPlan } from "../../src/runner/zmq/placement.ts";
import { Roster } from "../../src/runner/zmq/roster.ts";
import { until } from "../helpers/until.ts";

const plan = (id: string, nodes: string[], upstream: string[]): RunnerPlan => ({ id, nodes, upstream, restart: "on-failure", maxRestarts: 3 });
const placement: Placement = {
  runners: new Map([["ra", plan("ra", ["a", "b"], [])]]),
  runnerOf: new Map([
    ["a", "ra"],
    ["b", "ra"],
    ["return", "command"],
  ]),
  driverNodes: ["return"],
};
const metrics = { runs: 3, errors: 0, events: { value: 3 }, p50Ms: 1, p99Ms: 2 };

/** A table over a real roster and conditions; the command node and the scheduler are recorded at their edge. */
function table() {
  const sent: Message[] = [];
  const switched: Array<[string, boolean]> = [];
  const created: string[] = [];
  const conditions = new Conditions(() => undefined);
  const nodes = new NodeTable({
    placement,
    roster: new Roster(placement, () => []),
    conditions,
    scheduler: { setEnabled: (id, on) => void switched.push([id, on]) },
    initTimeoutMs: 2000,
    command: () => ({ broadcast: (m) => void sent.push(m) }),
    closed: () => false,
    failure: () => undefined,
    createOnDriver: async (id) => void created.push(id),
  });
  return { nodes, conditions, sent, switched, created };
}

describe("node table", () => {
  it("node table - a runner's node switches once its runner answers, and a restarted runner is given the switch", async () => {
    const t = table();
    const done = t.nodes.switch("a", false, "disableNode");
    await until(() => t.sent.length > 0, 2000, "the enable message");
    expect(t.sent.map((m) => [m.type, m.value])).toEqual([["enable", { node: "a", enabled: false }]]);
    expect(t.switched).toEqual([]);
    t.nodes.answered("a", false);
    t.conditions.changed();
    await done;
    expect(t.switched).toEqual([["a", false]]);
    expect([...t.nodes.switches()]).toEqual([["a", false]]);
    // An answer with no switch waiting changes nothing.
    t.nodes.answered("a", true);
    expect([...t.nodes.switches()]).toEqual([["a", false]]);
  });

  it("node table - a node its runner cannot create: the switch rejects with the runner's error and is forgotten", async () => {
    const t = table();
    const err = new NodeError("TUBULAR_ERR_NODE_INIT", { nodeId: "b", errorType: "Error", errorMessage: "no device" });
    expect(t.nodes.creationFailed("b", err)).toBe(false);
    const done = t.nodes.switch("b", true, "enableNode");
    await until(() => t.sent.length > 0, 2000, "the enable message");
    expect(t.nodes.creationFailed("b", err)).toBe(true);
    t.nodes.answered("b", false);
    t.conditions.changed();
    await expect(done).rejects.toBe(err);
    expect([...t.nodes.switches()]).toEqual([]);
    expect(t.switched).toEqual([]);
  });

  it("node table - the driver's own node is created here, with no message", async () => {
    const t = table();
    await t.nodes.switch("return", true, "enableNode");
    expect(t.created).toEqual(["return"]);
    expect(t.sent).toEqual([]);
    expect(t.switched).toEqual([["return", true]]);
  });

  it("node table - the last figures of each runner node, none for a node no runner hosts", () => {
    const t = table();
    t.nodes.metrics("a", metrics, 5);
    t.nodes.metrics("a", { ...metrics, runs: 4 }, 6);
    t.nodes.metrics("return", metrics, 7);
    expect(t.nodes.metricsOf("a")).toEqual({ ...metrics, runs: 4, receivedAt: 6 });
    expect(t.nodes.metricsOf("b")).toBeUndefined();
    expect(t.nodes.metricsOf("return")).toBeUndefined();
  });
});
