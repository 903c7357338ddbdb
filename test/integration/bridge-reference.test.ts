/**
 * The reference JSON-RPC client's own behaviour, at the wire level: what it
 * reads at connect, the calls it keeps alive on heartbeats, the `run_uuid` it
 * adds to every call, the error replies it sends to notifications, and the
 * variable registry it can mirror signals into.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BridgeServer } from "../../src/bridge/index.ts";
import { serveProcess, type Served } from "../fuzz/child-process.ts";
import { connectTcp, ServerReader, upgradeRequest } from "../fuzz/ws-wire.ts";
import { KEY, Raw } from "./bridge-raw.ts";

const HEARTBEAT_MS = 300;

/** count -> sleep -> return: each epoch's value is its index, after `ms`. */
const slowCount = (ms: number) => ({
  nodes: {
    c: { type: "count" },
    s: { type: "sleep", params: { ms }, depends: [{ value: "c.index" }] },
    out: { type: "return", depends: "s.value" },
  },
});

let server: BridgeServer;
let url: string;
let port: number;

beforeAll(async () => {
  server = new BridgeServer();
  ({ url, port } = await server.start({ port: 0, apiKeys: [KEY], heartbeatIntervalMs: HEARTBEAT_MS, sessionGraceMs: 200, maxBadFrames: 3 }));
});
afterAll(() => server?.close());

/** A connection answering as the reference client: create_node / create_edge / create_variable / update_variable with { message: "Ok" }, any other server method with -32601. */
async function referenceLike(): Promise<{ raw: Raw; variables: Array<{ at: number; method: string; params: any }> }> {
  const raw = await Raw.open(url);
  const variables: Array<{ at: number; method: string; params: any }> = [];
  raw.ws.on("message", (d) => {
    const f = JSON.parse(d.toString());
    if (Array.isArray(f) || typeof f.method !== "string") return;
    if (["create_node", "create_edge", "create_variable", "update_variable"].includes(f.method)) {
      if (f.method.endsWith("_variable")) variables.push({ at: Date.now(), method: f.method, params: f.params });
      raw.send({ jsonrpc: "2.0", id: f.id, result: { message: "Ok" } });
    } else if (f.method !== "heartbeat") {
      // The reference's answer to a method it has no handler for: with the message's id, null for a notification.
      raw.send({ jsonrpc: "2.0", id: f.id ?? null, error: { code: -32601, message: `Method '${f.method}' not found.`, data: { method: f.method } } });
    }
  });
  await raw.next((f) => f.result?.session_id);
  return { raw, variables };
}

async function loadAndInit(raw: Raw, graph: unknown, runUuid = "run-a", options: Record<string, unknown> = {}): Promise<{ tube_id: string; runner_id: string; status: any }> {
  const tube = await raw.call("tube.load", { graph, run_uuid: runUuid });
  expect(tube.error).toBeUndefined();
  const init = await raw.call("runner.init", { tube_id: tube.result.tube_id, options, run_uuid: runUuid });
  expect(init.error).toBeUndefined();
  return { tube_id: tube.result.tube_id, runner_id: init.result.runner_id, status: init.result };
}

describe("bridge reference - connect (issue 8, 1)", () => {
  let served: Served<{ port: number }>;
  beforeAll(async () => {
    // In its own process: a server in the test's process could never be read between two of its writes.
    served = await serveProcess<{ port: number }>("test/fuzz/bridge-serve-main.ts", [JSON.stringify({ sessionGraceMs: 100 })]);
  }, 90_000);
  afterAll(() => served?.stop());

  it("sends the 101 response and the complete session frame in one chunk, 100 times in a row", async () => {
    for (let i = 0; i < 100; i++) {
      const socket = await connectTcp(served.ready.port);
      socket.setNoDelay(true);
      const first = await new Promise<Buffer>((resolve, reject) => {
        socket.once("data", resolve);
        socket.once("error", reject);
        socket.write(upgradeRequest({ path: "/ws/v0/rpc/", headers: { Authorization: "Api-Key fuzz-key" } }));
      });
      socket.destroy();
      const reader = new ServerReader();
      reader.push(first);
      expect(reader.status, `connect ${i}`).toBe(101);
      expect(reader.frames, `connect ${i}: the first chunk holds the session frame`).toHaveLength(1);
      expect(reader.pending).toBe(0);
      const frame = JSON.parse(reader.frames[0]!.payload.toString("utf8"));
      expect(frame).toEqual({ jsonrpc: "2.0", id: null, result: { session_id: expect.any(String) } });
    }
  });
});

describe("bridge reference - long calls under the reference's names (issue 8, 2)", () => {
  it("keeps run_function alive with heartbeats: no gap reaches the client's timeout although the epoch is longer", async () => {
    const { raw } = await referenceLike();
    const { runner_id } = await loadAndInit(raw, slowCount(2500));
    // The reference client's wait: a call fails when `timeout` passes without the reply or a heartbeat for it.
    // Heartbeats come at most 1.5 x 300 ms apart; the 2 s timeout leaves room for a loaded machine.
    const timeoutMs = 2000;
    const id = "5f0c7f7e-7d0a-4d8e-9b7e-0c6f2d6a1e11";
    const sentAt = Date.now();
    raw.send({ jsonrpc: "2.0", method: "run_function", params: { runner_id, input: {}, run_uuid: "run-a" }, id });
    const beats: number[] = [];
    let reply: any;
    while (!reply) {
      const f = await raw.next((m) => (m.method === "heartbeat" && m.params?.id === id) || (m.id === id && !("method" in m)), timeoutMs);
      if (f.method === "heartbeat") beats.push(Date.now());
      else reply = f;
    }
    const doneAt = Date.now();
    expect(doneAt - sentAt).toBeGreaterThan(timeoutMs);
    expect(beats.length).toBeGreaterThanOrEqual(2);
    const marks = [sentAt, ...beats, doneAt];
    for (let i = 1; i < marks.length; i++) expect(marks[i]! - marks[i - 1]!).toBeLessThan(timeoutMs);
    expect(reply.result).toEqual({ epoch: 0, value: 0 });

    // With n: free-run epochs, the result of runner.run.
    const fast = await loadAndInit(raw, slowCount(0));
    const ran = await raw.call("run_function", { runner_id: fast.runner_id, n: 3, run_uuid: "run-a" });
    expect(ran.result).toEqual({ results: [{ epoch: 0, value: 0 }, { epoch: 1, value: 1 }, { epoch: 2, value: 2 }] });
    const both = await raw.call("run_function", { runner_id, n: 2, input: {} });
    expect(both.error).toMatchObject({ code: -32602, data: { issues: [{ path: ["n"] }] } });
    raw.close();
  });

  it("lists run_function and runner.run in rpc.discover", async () => {
    const { raw } = await referenceLike();
    const doc = (await raw.call("rpc.discover", { run_uuid: null })).result;
    const names = doc.methods.map((m: any) => m.name);
    expect(names).toEqual(expect.arrayContaining(["run_function", "runner.run", "runner.process"]));
    const rf = doc.methods.find((m: any) => m.name === "run_function");
    expect(rf.params.map((p: any) => p.name)).toEqual(["runner_id", "input", "n", "run_uuid"]);
    raw.close();
  });
});

describe("bridge reference - run_uuid on every call (issue 8, 3)", () => {
  it("no method refuses run_uuid, a bad one is an invalid param, and the runner keeps the latest", async () => {
    const { raw } = await referenceLike();
    const doc = (await raw.call("rpc.discover", {})).result;
    for (const m of doc.methods as Array<{ name: string }>) {
      if (m.name === "callables.invoke") continue; // relay connections only
      const r = await raw.call(m.name, { run_uuid: "run-x" });
      const issues: any[] = r.error?.data?.issues ?? [];
      expect(issues.filter((i) => i.path[0] === "run_uuid" || /run_uuid/.test(i.message)), m.name).toEqual([]);
      expect(r.error?.code, m.name).not.toBe(-32601);
    }
    const bad = await raw.call("session.info", { run_uuid: 42 });
    expect(bad.error).toMatchObject({ code: -32602, data: { issues: [{ path: ["run_uuid"] }] } });

    const { runner_id, status } = await loadAndInit(raw, slowCount(0), "run-1");
    expect(status.run_uuid).toBe("run-1");
    await raw.call("run_function", { runner_id, input: {}, run_uuid: "run-2" });
    expect((await raw.call("runner.status", { runner_id, run_uuid: null })).result.run_uuid).toBe("run-2");
    const info = (await raw.call("session.info", { run_uuid: "run-2" })).result;
    expect(info.runners[0].run_uuid).toBe("run-2");
    raw.close();
  });
});

describe("bridge reference - error replies to notifications (issue 8, 4)", () => {
  it("is not disconnected for answering every event notification with -32601 id null (bad-frame budget 3)", async () => {
    const { raw } = await referenceLike();
    // The reference may answer the session frame too, when its listener reads it.
    raw.send({ jsonrpc: "2.0", id: null, error: { code: -32600, message: "Missing required field: method" } });
    const { runner_id } = await loadAndInit(raw, slowCount(0));
    await raw.call("events.subscribe", { runner_id, nodes: ["c"], run_uuid: "run-a" });
    for (let i = 0; i < 12; i++) {
      await raw.call("runner.process", { runner_id, input: {}, run_uuid: "run-a" });
      await raw.next((f) => f.method === "event");
    }
    // Each of the 12 notifications drew an error reply; the connection is still served.
    const info = await raw.call("session.info", {});
    expect(info.result.runners).toHaveLength(1);
    expect(raw.closeCode).toBeUndefined();
    raw.close();
  });
});

describe("bridge reference - signals as the client's variables (issue 8, 5)", () => {
  it("create_variable once with the first value, then throttled update_variable, the last value delivered", async () => {
    const { raw, variables } = await referenceLike();
    // One epoch at a time, 15 ms each: 40 values over 600 ms or more.
    const { tube_id, runner_id } = await loadAndInit(raw, slowCount(15), "run-a", { maxInFlight: 1 });
    const sub = await raw.call("events.subscribe", { runner_id, nodes: ["c"], as: "variables", interval_ms: 100, run_uuid: "run-a" });
    expect(sub.result.subscription_id).toMatch(/^sub-/);
    const started = Date.now();
    const ran = await raw.call("run_function", { runner_id, n: 40 }, "run40");
    expect(ran.result.results).toHaveLength(40);
    const took = Date.now() - started;
    const vid = `${tube_id}/c.index`;
    // The last value (39) arrives within an interval or so of the end.
    const deadline = Date.now() + 2000;
    while (variables.at(-1)?.params.value !== 39 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));

    expect(variables[0]).toMatchObject({
      method: "create_variable",
      params: {
        variable_id: vid,
        obj_type: "__variable__",
        data: 0,
        role: expect.stringMatching(/c.*index|index.*c/),
        requires_grad: false,
        _retain_grad: false,
        _grad: [],
        _output_nr: 0,
        _grad_fn: null,
        is_leaf: true,
      },
    });
    const updates = variables.slice(1);
    expect(variables.filter((v) => v.method === "create_variable")).toHaveLength(1);
    expect(updates.every((u) => u.method === "update_variable" && u.params.variable_id === vid && u.params.field === "data")).toBe(true);
    expect(updates.at(-1)!.params.value).toBe(39);
    // Throttled: far fewer calls than values, and never more than one per interval (send times, less loopback jitter).
    expect(took).toBeGreaterThanOrEqual(600);
    expect(updates.length).toBeGreaterThanOrEqual(3);
    expect(updates.length).toBeLessThan(40);
    expect(updates.length).toBeLessThanOrEqual(Math.ceil(took / 100) + 2);
    const values = updates.map((u) => u.params.value as number);
    expect([...values].sort((a, b) => a - b)).toEqual(values);
    for (let i = 1; i < variables.length; i++) expect(variables[i]!.at - variables[i - 1]!.at).toBeGreaterThanOrEqual(60);
    raw.close();
  });
});
