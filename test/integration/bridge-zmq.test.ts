/**
 * The bridge over the ZeroMQ runner: the same calls as over the local
 * runner, and `rpc` nodes that run in node runner processes and reach the
 * client through the bridge's relay.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BridgeServer, RpcCodes, TubularClient } from "../../src/bridge/index.ts";
import { THREE_NODES } from "../fixtures/bridge-graphs.ts";

const KEY = "zmq-key";


/** x -> double (zmq process) -> rpc node "f" (its own zmq process, calls the client) -> return */
const WITH_RPC = {
  input: { x: { scope: "process", type: "number" } },
  nodes: {
    double: { type: "multiply", depends: [{ left: "input.x" }, { right: "input.x" }] },
    r: { type: "rpc", params: { callable: "f" }, depends: [{ v: "double.value" }] },
    out: { type: "return", depends: "r.value" },
  },
};

let server: BridgeServer;
let url: string;

beforeAll(async () => {
  server = new BridgeServer();
  ({ url } = await server.start({ port: 0, apiKeys: [KEY] }));
});
afterAll(async () => {
  await server.close();
});

async function zmqRunner(c: TubularClient, graph: unknown): Promise<string> {
  const t = (await c.call("tube.load", { graph })) as { tube_id: string };
  const r = (await c.call("runner.init", { tube_id: t.tube_id, runner: "zmq" }, { timeout: 60 })) as { runner_id: string; runner: string; state: string };
  expect(r).toMatchObject({ runner: "zmq", state: "ready" });
  return r.runner_id;
}

describe("bridge zmq - runner zmq over the bridge", () => {
  it("runs a 3-node graph with the same results as the local runner", async () => {
    const c = new TubularClient(url);
    await c.connect(KEY);
    const runner = await zmqRunner(c, THREE_NODES);
    expect(await c.call("runner.process", { runner_id: runner, input: { x: 3 } })).toEqual({ epoch: 0, value: 12 });
    expect(await c.call("runner.process", { runner_id: runner, input: { x: 1 } })).toEqual({ epoch: 1, value: 2 });
    expect(await c.call("runner.deinit", { runner_id: runner })).toMatchObject({ state: "closed" });
    await c.close();
  });

  it("an rpc node in a ZeroMQ-run graph calls run_callable on the client; errors name the callable", async () => {
    const c = new TubularClient(url);
    await c.connect(KEY);
    const seen: unknown[] = [];
    await c.serve("f", (kwargs) => {
      seen.push(kwargs);
      if ((kwargs.v as number) > 100) throw new Error("too big");
      return (kwargs.v as number) + 1;
    });
    const runner = await zmqRunner(c, WITH_RPC);
    expect(await c.call("runner.process", { runner_id: runner, input: { x: 3 } })).toEqual({ epoch: 0, value: 10 });
    expect(await c.call("runner.process", { runner_id: runner, input: { x: 4 } })).toEqual({ epoch: 1, value: 17 });
    expect(seen).toEqual([{ v: 9 }, { v: 16 }]);
    const err: any = await c.call("runner.process", { runner_id: runner, input: { x: 20 } }).catch((e) => e);
    expect(err.rpcCode).toBe(RpcCodes.NODE_FAILED);
    expect(err.data.node_id).toBe("r");
    expect(err.data.error_message).toMatch(/callable "f".*too big/);
    await c.call("runner.deinit", { runner_id: runner });
    await c.close();
  });
});
