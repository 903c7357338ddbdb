/**
 * The bridge on the wire: a real server on 127.0.0.1:0 and raw WebSocket
 * clients, checking the frames the reference client protocol defines
 * exactly, and every kind of bad frame.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { BridgeServer, RpcCodes, startBridge } from "../../src/bridge/index.ts";
import { THREE_NODES } from "../fixtures/bridge-graphs.ts";
import WebSocket from "ws";
import { KEY, Raw } from "./bridge-raw.ts";

const OTHER_KEY = "test-key-2";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const DIVIDE = {
  input: { d: { scope: "process", type: "number" } },
  nodes: {
    div: { type: "divide", params: { numerator: 1 }, depends: [{ denominator: "input.d" }] },
    out: { type: "return", depends: "div.value" },
  },
};

const WITH_RPC = {
  input: { x: { scope: "process", type: "number" } },
  nodes: {
    r: { type: "rpc", params: { callable: "twice" }, depends: [{ v: "input.x" }] },
    out: { type: "return", depends: "r.value" },
  },
};

let server: BridgeServer;
let url: string;
let port: number;
let graphsDir: string;

beforeAll(async () => {
  graphsDir = await mkdtemp(path.join(tmpdir(), "bridge-graphs-"));
  await writeFile(path.join(graphsDir, "three.json"), JSON.stringify(THREE_NODES));
  server = new BridgeServer();
  ({ url, port } = await server.start({
    port: 0,
    apiKeys: [KEY, OTHER_KEY],
    graphsDir,
    heartbeatIntervalMs: 200,
    maxFrameBytes: 64 * 1024,
    maxInflightPerSession: 4,
    maxBadFrames: 20,
    sessionGraceMs: 300,
  }));
});

afterAll(async () => {
  await server.close();
  await rm(graphsDir, { recursive: true, force: true });
});

/** Opens a socket, reads the session frame, and answers mirror calls. */
async function session(key = KEY): Promise<{ raw: Raw; sessionId: string }> {
  const raw = await Raw.open(url, key);
  const first = await raw.next();
  raw.autoMirror();
  return { raw, sessionId: first.result.session_id };
}

function status(headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: "/ws/v0/rpc/", headers: { Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", ...headers } });
    req.on("response", (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 101);
    });
    req.on("error", reject);
    req.end();
  });
}

describe("bridge wire - authentication and the session frame", () => {
  it("refuses a missing or unknown key with HTTP 401 and creates no session", async () => {
    const before = server.sessionCount;
    expect(await status({})).toBe(401);
    expect(await status({ Authorization: "Api-Key wrong" })).toBe(401);
    expect(await status({ Authorization: "Basic dGVzdA==" })).toBe(401);
    await expect(Raw.open(url, "wrong")).rejects.toMatchObject({ status: 401 });
    expect(server.sessionCount).toBe(before);
  });

  it("accepts Api-Key and Bearer, and sends the session frame first, unasked", async () => {
    const raw = await Raw.open(url, undefined, { Authorization: `Bearer ${KEY}` });
    const first = await raw.next();
    expect(Object.keys(first).sort()).toEqual(["id", "jsonrpc", "result"]);
    expect(first).toEqual({ jsonrpc: "2.0", id: null, result: { session_id: expect.stringMatching(UUID) } });
    raw.close();
  });

  it("answers 404 off the endpoint path", async () => {
    await expect(
      new Promise((resolve, reject) => {
        const ws = new WebSocket(url.replace("/ws/v0/rpc/", "/other"), { headers: { Authorization: `Api-Key ${KEY}` } });
        ws.once("unexpected-response", (_q, res) => resolve(res.statusCode));
        ws.once("open", () => reject(new Error("opened")));
      }),
    ).resolves.toBe(404);
  });

  it("tolerates the reference client's quirks: run_uuid in params, an id-less error reply to the session frame", async () => {
    const { raw } = await session();
    raw.send({ jsonrpc: "2.0", id: null, error: { code: -32600, message: "Missing required field: method" } });
    const r = await raw.call("session.info", { run_uuid: null }, "3f2b8c1e-0000-4000-8000-000000000001");
    expect(r.result.session_id).toMatch(UUID);
    await sleep(50);
    expect(raw.frames).toEqual([]);
    raw.close();
  });
});

describe("bridge wire - bad frames get their error and the connection stays open", () => {
  it("answers each kind of bad frame exactly", async () => {
    const { raw } = await session();
    raw.send("{oops");
    expect(await raw.next()).toEqual({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error" } });

    raw.send("[]");
    expect(await raw.next()).toEqual({ jsonrpc: "2.0", id: null, error: { code: -32600, message: "Invalid Request: empty batch" } });

    raw.send("[1,2]");
    const two = await raw.next();
    expect(two.map((e: any) => [e.id, e.error.code])).toEqual([
      [null, -32600],
      [null, -32600],
    ]);

    raw.send({ jsonrpc: "1.0", method: "session.info", id: 5 });
    expect(await raw.reply(5)).toMatchObject({ jsonrpc: "2.0", id: 5, error: { code: -32600, message: "Invalid Request" } });

    raw.send({ method: "session.info", id: 6 });
    expect((await raw.reply(6)).error.code).toBe(-32600);

    raw.send({ jsonrpc: "2.0", method: 42, id: 7 });
    expect((await raw.reply(7)).error.code).toBe(-32600);

    raw.send({ jsonrpc: "2.0", method: "session.info", id: 8, extra: true });
    expect((await raw.reply(8)).error.code).toBe(-32600);

    raw.send({ jsonrpc: "2.0", method: "no.such", params: {}, id: 9 });
    expect(await raw.reply(9)).toEqual({ jsonrpc: "2.0", id: 9, error: { code: -32601, message: "Method not found", data: { method: "no.such" } } });

    raw.send({ jsonrpc: "2.0", method: "runner.init", params: { tube_id: 3, runner: "gpu" }, id: 10 });
    const invalid = await raw.reply(10);
    expect(invalid.error.code).toBe(-32602);
    expect(invalid.error.data.issues.map((i: any) => i.path)).toEqual([["tube_id"], ["runner"]]);

    raw.send({ jsonrpc: "2.0", method: "runner.status", params: ["positional"], id: 11 });
    expect((await raw.reply(11)).error.code).toBe(-32602);

    raw.send({ jsonrpc: "2.0", method: "tube.load", params: { graph: {}, path: "x.yaml" }, id: 12 });
    expect((await raw.reply(12)).error).toMatchObject({ code: -32602, data: { issues: [{ path: ["graph"] }] } });

    // Notifications get no reply, even bad ones that parse.
    raw.send({ jsonrpc: "2.0", method: "no.such" });
    raw.send({ jsonrpc: "2.0", method: "runner.status", params: {} });

    // A mixed batch: replies for the requests only, in one array.
    raw.send([
      { jsonrpc: "2.0", method: "session.info", id: "b1" },
      { jsonrpc: "2.0", method: "session.info" },
      { jsonrpc: "2.0", method: "nope", id: "b2" },
      { bad: true },
    ]);
    const batch = await raw.next((f) => Array.isArray(f));
    expect(batch.map((r: any) => [r.id, r.error?.code ?? "ok"])).toEqual([
      ["b1", "ok"],
      ["b2", -32601],
      [null, -32600],
    ]);

    const still = await raw.call("session.info", {}, 99);
    expect(still.result.session_id).toMatch(UUID);
    await sleep(50);
    expect(raw.frames).toEqual([]);
    raw.close();
  });

  it("closes a connection that sends a frame over the size limit (1009), and only that one", async () => {
    const { raw: abuser } = await session();
    const { raw: bystander } = await session();
    abuser.send(JSON.stringify({ jsonrpc: "2.0", method: "session.info", params: { pad: "x".repeat(100 * 1024) }, id: 1 }));
    expect(await abuser.closed).toBe(1009);
    expect((await bystander.call("session.info", {})).result).toBeDefined();
    bystander.close();
  });

  it("closes a connection that keeps sending bad frames (1008), and only that one", async () => {
    const { raw: abuser } = await session();
    const { raw: bystander } = await session();
    for (let i = 0; i < 30; i++) abuser.send("garbage");
    expect(await abuser.closed).toBe(1008);
    expect((await bystander.call("session.info", {})).result).toBeDefined();
    bystander.close();
  });

  it("bounds the calls in flight per session with OVERLOADED", async () => {
    const { raw } = await session();
    await raw.call("callables.register", { names: ["twice"] });
    const t = (await raw.call("tube.load", { graph: WITH_RPC })).result;
    const r = (await raw.call("runner.init", { tube_id: t.tube_id })).result;
    // Each process call waits on run_callable, which this socket does not answer yet.
    raw.send(Array.from({ length: 6 }, (_, i) => ({ jsonrpc: "2.0", method: "runner.process", params: { runner_id: r.runner_id, input: { x: i } }, id: `p${i}` })));
    const first = await raw.next((f) => f.method === "run_callable");
    raw.send({ jsonrpc: "2.0", id: first.id, result: { message: "Ok", data: 0 } });
    for (let i = 0; i < 3; i++) {
      const c = await raw.next((f) => f.method === "run_callable");
      raw.send({ jsonrpc: "2.0", id: c.id, result: { message: "Ok", data: c.params.kwargs.v * 2 } });
    }
    const batch = await raw.next((f) => Array.isArray(f));
    const codes = batch.map((x: any) => x.error?.code ?? "ok");
    expect(codes.filter((c: unknown) => c === RpcCodes.OVERLOADED)).toHaveLength(2);
    expect(codes.filter((c: unknown) => c === "ok")).toHaveLength(4);
    raw.close();
  });
});

describe("bridge wire - the reference client's frames", () => {
  it("mirrors a loaded tube with create_node then create_edge, in the reference's shapes and direction", async () => {
    const raw = await Raw.open(url);
    await raw.next();
    raw.send({ jsonrpc: "2.0", method: "tube.load", params: { graph: THREE_NODES }, id: "load" });
    const nodes: any[] = [];
    for (let i = 0; i < 3; i++) nodes.push(await raw.next((f) => f.method === "create_node"));
    for (const n of nodes) {
      expect(n).toEqual({ jsonrpc: "2.0", method: "create_node", id: expect.any(String), params: { node_id: expect.any(String), name: expect.any(String), tube_id: expect.any(String) } });
      expect(n.id).not.toBe("");
    }
    const tubeId = nodes[0].params.tube_id;
    expect(nodes.map((n) => [n.params.node_id, n.params.name]).sort()).toEqual([
      [`${tubeId}/double`, "multiply"],
      [`${tubeId}/inc`, "add"],
      [`${tubeId}/out`, "return"],
    ]);
    // No edge before every node is acknowledged.
    await sleep(50);
    expect(raw.frames.filter((f) => f.method === "create_edge")).toEqual([]);
    for (const n of nodes) raw.send({ jsonrpc: "2.0", id: n.id, result: { message: "Ok" } });
    const edges: any[] = [];
    for (let i = 0; i < 5; i++) edges.push(await raw.next((f) => f.method === "create_edge"));
    for (const e of edges) raw.send({ jsonrpc: "2.0", id: e.id, result: { message: "Ok" } });
    const simple = edges.map((e) => [e.params.from_node_id, e.params.to_node_id, e.params.output_nr]).sort((a, b) => `${a}`.localeCompare(`${b}`));
    expect(simple).toEqual(
      [
        [`${tubeId}/double`, null, 0],
        [`${tubeId}/double`, null, 0],
        [`${tubeId}/inc`, `${tubeId}/double`, 0],
        [`${tubeId}/inc`, null, 0],
        [`${tubeId}/out`, `${tubeId}/inc`, 0],
      ].sort((a, b) => `${a}`.localeCompare(`${b}`)),
    );
    const loaded = await raw.reply("load");
    expect(loaded.result).toMatchObject({ tube_id: tubeId, mirrored: true });
    expect(loaded.result.nodes).toHaveLength(3);
    expect(loaded.result.edges).toHaveLength(5);
    raw.close();
  });

  it("loads from the graphs directory and refuses paths outside it", async () => {
    const { raw } = await session();
    const ok = await raw.call("tube.load", { path: "three.json", mirror: false });
    expect(ok.result).toMatchObject({ mirrored: false });
    const out = await raw.call("tube.load", { path: "../../etc/passwd" });
    expect(out.error.code).toBe(RpcCodes.FORBIDDEN);
    const mod = await raw.call("tube.load", { graph: { nodes: { a: { type: "./evil.ts#x" } } } });
    expect(mod.error.code).toBe(RpcCodes.FORBIDDEN);
    const bad = await raw.call("tube.load", { graph: { nodes: { a: { type: "no-such-type" } } } });
    expect(bad.error).toMatchObject({ code: RpcCodes.SPEC_INVALID, data: { code: "TUBULAR_ERR_SPEC_UNKNOWN_TYPE", path: "nodes.a.type" } });
    raw.close();
  });

  it("runs a tube: runner.init, runner.process with epoch and value, status, deinit", async () => {
    const { raw } = await session();
    const t = (await raw.call("tube.load", { graph: THREE_NODES })).result;
    const r = (await raw.call("runner.init", { tube_id: t.tube_id, runner: "local" })).result;
    expect(r).toMatchObject({ runner_id: expect.any(String), state: "ready", runner: "local" });
    expect((await raw.call("runner.process", { runner_id: r.runner_id, input: { x: 3 } })).result).toEqual({ epoch: 0, value: 12 });
    expect((await raw.call("runner.process", { runner_id: r.runner_id, input: { x: 1 } })).result).toEqual({ epoch: 1, value: 2 });
    expect((await raw.call("runner.status", { runner_id: r.runner_id })).result).toMatchObject({ epochs: 2, last_epoch: 1 });
    const bad = await raw.call("runner.process", { runner_id: r.runner_id, input: { x: "a" } });
    expect(bad.error).toMatchObject({ code: -32602, data: { issues: [{ path: ["input", "x"] }] } });
    expect((await raw.call("runner.deinit", { runner_id: r.runner_id })).result.state).toBe("closed");
    expect((await raw.call("runner.status", { runner_id: r.runner_id })).error.code).toBe(RpcCodes.NOT_FOUND);
    raw.close();
  });

  it("answers a node failure with an application error carrying node id, epoch, error type and message", async () => {
    const { raw } = await session();
    const t = (await raw.call("tube.load", { graph: DIVIDE })).result;
    const r = (await raw.call("runner.init", { tube_id: t.tube_id })).result;
    const res = await raw.call("runner.process", { runner_id: r.runner_id, input: { d: 0 } }, "div0");
    expect(res).toEqual({
      jsonrpc: "2.0",
      id: "div0",
      error: {
        code: RpcCodes.NODE_FAILED,
        message: 'node "div" at epoch 0: RangeError: division by zero (1 / 0)',
        data: { code: "TUBULAR_ERR_NODE_FAILED", node_id: "div", epoch: 0, error_type: "RangeError", error_message: "division by zero (1 / 0)" },
      },
    });
    expect((await raw.call("runner.process", { runner_id: r.runner_id, input: { d: 4 } })).result).toEqual({ epoch: 1, value: 0.25 });
    raw.close();
  });

  it("refuses runner options the client may not set, with their path", async () => {
    const { raw } = await session();
    const t = (await raw.call("tube.load", { graph: THREE_NODES })).result;
    const res = await raw.call("runner.init", { tube_id: t.tube_id, runner: "zmq", options: { host: "0.0.0.0" } });
    expect(res.error).toMatchObject({ code: -32602, data: { issues: [{ path: ["options"], code: "unrecognized_keys" }] } });
    raw.close();
  });

  it("calls run_callable with callable_id, args and kwargs, and the reply's data is the node's output", async () => {
    const { raw } = await session();
    expect((await raw.call("callables.register", { names: ["twice"] })).result).toEqual({ names: ["twice"] });
    const t = (await raw.call("tube.load", { graph: WITH_RPC })).result;
    const r = (await raw.call("runner.init", { tube_id: t.tube_id })).result;
    raw.send({ jsonrpc: "2.0", method: "runner.process", params: { runner_id: r.runner_id, input: { x: 21 } }, id: "p" });
    const call = await raw.next((f) => f.method === "run_callable");
    expect(call).toEqual({ jsonrpc: "2.0", method: "run_callable", id: expect.any(String), params: { callable_id: "twice", args: [], kwargs: { v: 21 } } });
    raw.send({ jsonrpc: "2.0", id: call.id, result: { message: "Ok", data: 42 } });
    expect((await raw.reply("p")).result).toEqual({ epoch: 0, value: 42 });

    // A client that errs (as the reference's _send_error does) makes the node fail, naming the callable.
    raw.send({ jsonrpc: "2.0", method: "runner.process", params: { runner_id: r.runner_id, input: { x: 1 } }, id: "q" });
    const call2 = await raw.next((f) => f.method === "run_callable");
    raw.send({ jsonrpc: "2.0", id: call2.id, error: { code: -32603, message: "Internal error", data: { exception: "boom" } } });
    const failed = await raw.reply("q");
    expect(failed.error).toMatchObject({ code: RpcCodes.NODE_FAILED, data: { node_id: "r", error_type: "CallableError" } });
    expect(failed.error.data.error_message).toContain('callable "twice"');
    expect(failed.error.data.error_message).toContain("boom");

    // An unregistered callable fails at once, naming it.
    await raw.call("callables.unregister", { names: ["twice"] });
    const un = await raw.call("runner.process", { runner_id: r.runner_id, input: { x: 1 } });
    expect(un.error.data.error_message).toMatch(/callable "twice".*not registered/);
    raw.close();
  });

  it("sends heartbeat notifications { id } for a request that runs long", async () => {
    const { raw } = await session();
    await raw.call("callables.register", { names: ["twice"] });
    const t = (await raw.call("tube.load", { graph: WITH_RPC })).result;
    const r = (await raw.call("runner.init", { tube_id: t.tube_id })).result;
    raw.send({ jsonrpc: "2.0", method: "runner.process", params: { runner_id: r.runner_id, input: { x: 2 } }, id: "slow-1" });
    const call = await raw.next((f) => f.method === "run_callable");
    const hb1 = await raw.next((f) => f.method === "heartbeat", 1000);
    const hb2 = await raw.next((f) => f.method === "heartbeat", 1000);
    expect(hb1).toEqual({ jsonrpc: "2.0", method: "heartbeat", params: { id: "slow-1" } });
    expect(hb2).toEqual(hb1);
    raw.send({ jsonrpc: "2.0", id: call.id, result: { message: "Ok", data: 4 } });
    expect((await raw.reply("slow-1")).result).toEqual({ epoch: 0, value: 4 });
    raw.close();
  });

  it("keeps sessions apart: another client cannot see or touch a session's runners", async () => {
    const { raw: a } = await session(KEY);
    const { raw: b } = await session(OTHER_KEY);
    const t = (await a.call("tube.load", { graph: THREE_NODES })).result;
    const r = (await a.call("runner.init", { tube_id: t.tube_id })).result;
    expect((await b.call("runner.process", { runner_id: r.runner_id, input: { x: 1 } })).error.code).toBe(RpcCodes.NOT_FOUND);
    expect((await b.call("runner.init", { tube_id: t.tube_id })).error.code).toBe(RpcCodes.NOT_FOUND);
    expect((await b.call("session.info", {})).result.runners).toEqual([]);
    a.close();
    b.close();
  });

  it("delivers subscribed events as batched event notifications", async () => {
    const { raw } = await session();
    const t = (await raw.call("tube.load", { graph: THREE_NODES })).result;
    const r = (await raw.call("runner.init", { tube_id: t.tube_id })).result;
    const sub = (await raw.call("events.subscribe", { runner_id: r.runner_id, nodes: ["inc"] })).result;
    expect(sub.subscription_id).toEqual(expect.any(String));
    await raw.call("runner.process", { runner_id: r.runner_id, input: { x: 2 } });
    const ev = await raw.next((f) => f.method === "event");
    expect(ev).toEqual({
      jsonrpc: "2.0",
      method: "event",
      params: { runner_id: r.runner_id, subscription_id: sub.subscription_id, events: [{ id: expect.any(Number), timestamp: expect.any(Number), node_id: "inc", signal: "value", epoch: 0, value: 6 }] },
    });
    expect((await raw.call("events.unsubscribe", { subscription_id: sub.subscription_id })).result.unsubscribed).toBe(true);
    await raw.call("runner.process", { runner_id: r.runner_id, input: { x: 2 } });
    await sleep(30);
    expect(raw.frames.filter((f) => f.method === "event")).toEqual([]);
    raw.close();
  });

  it("serves its OpenRPC document on rpc.discover", async () => {
    const { raw } = await session();
    const doc = (await raw.call("rpc.discover", {})).result;
    expect(doc.openrpc).toBe("1.3.2");
    expect(doc.methods.find((m: any) => m.name === "runner.process").params.map((p: any) => p.name)).toEqual(["runner_id", "input", "run_uuid"]);
    raw.close();
  });
});

describe("bridge wire - idle timeout", () => {
  it("closes a connection that stays silent longer than the idle timeout", async () => {
    const s = new BridgeServer();
    const { url: u } = await s.start({ port: 0, apiKeys: [KEY], idleTimeoutMs: 200 });
    const raw = await Raw.open(u);
    await raw.next();
    expect(await raw.closed).toBe(1001);
    await s.close();
  });
});

describe("bridge wire - startBridge, as tubular serve runs it", () => {
  it("takes keys from a key file and from TUBULAR_API_KEYS, and refuses to start without any", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "bridge-keys-"));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, "keys.txt");
    await writeFile(file, "# bridge keys\nfile-key\n\n");
    const started = await startBridge({ port: 0, apiKeysFile: file, apiKeysEnv: "env-key-1, env-key-2" });
    for (const key of ["file-key", "env-key-1", "env-key-2"]) {
      const raw = await Raw.open(started.url, key);
      expect((await raw.next()).result.session_id).toMatch(UUID);
      raw.close();
    }
    await expect(Raw.open(started.url, "# bridge keys")).rejects.toMatchObject({ status: 401 });
    await started.server.close();
    await expect(startBridge({ port: 0, apiKeysEnv: "" })).rejects.toMatchObject({ code: "TUBULAR_ERR_AUTH" });
    await expect(startBridge({ port: 0, apiKeysFile: path.join(dir, "missing.txt") })).rejects.toMatchObject({ code: "TUBULAR_ERR_AUTH" });
  });
});
