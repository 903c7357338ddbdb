import { describe, expect, it } from "vitest";
import { z } from "zod";
import { NodeError, SpecError, TubularError } from "../../src/errors.ts";
import { ApiKeys, keyFromHeader } from "../../src/bridge/auth.ts";
import { HeartbeatKeeper } from "../../src/bridge/heartbeat.ts";
import { encode, RpcCodes, RpcError, toRpcError } from "../../src/bridge/jsonrpc.ts";
import { methods } from "../../src/bridge/methods.ts";
import { openRpcDocument } from "../../src/bridge/openrpc.ts";
import { JsonRpcPeer, type Handler } from "../../src/bridge/peer.ts";
import { EventBatcher } from "../../src/bridge/events.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Two peers wired back to back, with every frame recorded. */
function pair(handlersA: Record<string, Handler>, handlersB: Record<string, Handler>, opts: { hbA?: number; maxInflightA?: number } = {}) {
  const framesToA: string[] = [];
  const framesToB: string[] = [];
  let a!: JsonRpcPeer;
  let b!: JsonRpcPeer;
  a = new JsonRpcPeer({
    send: (t) => {
      framesToB.push(t);
      queueMicrotask(() => b.receive(t));
    },
    resolve: (m) => handlersA[m],
    heartbeatIntervalMs: opts.hbA ?? 0,
    ...(opts.maxInflightA ? { maxInflight: opts.maxInflightA } : {}),
    idPrefix: "a",
  });
  b = new JsonRpcPeer({
    send: (t) => {
      framesToA.push(t);
      queueMicrotask(() => a.receive(t));
    },
    resolve: (m) => handlersB[m],
    idPrefix: "b",
  });
  return { a, b, framesToA, framesToB };
}

/** A peer whose replies are captured, fed raw text. */
function lone(handlers: Record<string, Handler>, maxInflight?: number) {
  const out: unknown[] = [];
  const peer = new JsonRpcPeer({ send: (t) => out.push(JSON.parse(t)), resolve: (m) => handlers[m], ...(maxInflight ? { maxInflight } : {}) });
  return { peer, out };
}

describe("bridge peer - JSON-RPC 2.0 semantics", () => {
  it("answers a request and ignores a notification's return value", async () => {
    const { peer, out } = lone({ echo: (p) => p });
    peer.receive('{"jsonrpc":"2.0","method":"echo","params":{"a":1},"id":"x"}');
    peer.receive('{"jsonrpc":"2.0","method":"echo","params":{"a":2}}');
    await sleep(5);
    expect(out).toEqual([{ jsonrpc: "2.0", id: "x", result: { a: 1 } }]);
  });

  it("replies -32700 with id null to unparsable text", async () => {
    const { peer, out } = lone({});
    peer.receive("{not json");
    await sleep(1);
    expect(out).toEqual([{ jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error" } }]);
  });

  it("replies -32600 to invalid requests, keeping a usable id", async () => {
    const { peer, out } = lone({ echo: (p) => p });
    peer.receive('{"jsonrpc":"1.0","method":"echo","id":7}');
    peer.receive('{"jsonrpc":"2.0","method":1,"id":"m"}');
    peer.receive("42");
    await sleep(5);
    expect(out.map((o: any) => [o.id, o.error.code])).toEqual([
      [7, -32600],
      ["m", -32600],
      [null, -32600],
    ]);
  });

  it("replies -32601 with data.method, and nothing for an unknown notification", async () => {
    const { peer, out } = lone({});
    peer.receive('{"jsonrpc":"2.0","method":"nope","id":1}');
    peer.receive('{"jsonrpc":"2.0","method":"nope"}');
    await sleep(5);
    expect(out).toEqual([{ jsonrpc: "2.0", id: 1, error: { code: -32601, message: "Method not found", data: { method: "nope" } } }]);
  });

  it("answers a batch with one array, leaving out notifications; an empty batch is one -32600", async () => {
    const { peer, out } = lone({ echo: (p) => p });
    peer.receive('[{"jsonrpc":"2.0","method":"echo","params":[1],"id":1},{"jsonrpc":"2.0","method":"echo"},{"foo":"bar"},{"jsonrpc":"2.0","method":"x","id":"2"}]');
    peer.receive("[]");
    peer.receive('[{"jsonrpc":"2.0","method":"echo"}]');
    await sleep(5);
    expect(out).toHaveLength(2);
    const batch = (out as any[]).find((o) => Array.isArray(o));
    const empty = (out as any[]).find((o) => !Array.isArray(o));
    expect(batch!.map((r: any) => r.result ?? r.error.code)).toEqual([[1], -32600, -32601]);
    expect(empty).toEqual({ jsonrpc: "2.0", id: null, error: { code: -32600, message: "Invalid Request: empty batch" } });
  });

  it("never replies to a response, even an unknown or malformed one", async () => {
    const { peer, out } = lone({});
    peer.receive('{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Missing required field: method"}}');
    peer.receive('{"jsonrpc":"2.0","id":"zz","result":1}');
    await sleep(5);
    expect(out).toEqual([]);
  });

  it("requests both ways and maps error replies to RpcError", async () => {
    const { a, b } = pair({ fromB: () => "hi-from-a" }, { add: (p: any) => p.x + p.y, boom: () => { throw new RpcError(-32050, "nope", { why: 1 }); } });
    expect(await a.request("add", { x: 1, y: 2 })).toBe(3);
    expect(await b.request("fromB")).toBe("hi-from-a");
    const err: any = await a.request("boom").catch((e) => e);
    expect(err).toBeInstanceOf(RpcError);
    expect(err.rpcCode).toBe(-32050);
    expect(err.data).toEqual({ why: 1 });
  });

  it("times out a request with no reply, but heartbeats keep a slow one alive", async () => {
    // a calls b; b answers `slow` after 400 ms with heartbeats every 100 ms; a's timeout is 250 ms.
    const { a } = pair({}, { slow: () => sleep(400).then(() => "done"), never: () => new Promise(() => undefined) });
    const hbPeer = (() => {
      let caller!: JsonRpcPeer;
      const callee = new JsonRpcPeer({ send: (t) => queueMicrotask(() => caller.receive(t)), resolve: () => () => sleep(400).then(() => "done"), heartbeatIntervalMs: 100 });
      caller = new JsonRpcPeer({ send: (t) => queueMicrotask(() => callee.receive(t)), resolve: () => undefined });
      return caller;
    })();
    await expect(hbPeer.request("slow", {}, { timeoutMs: 250 })).resolves.toBe("done");
    const err: any = await a.request("never", {}, { timeoutMs: 100 }).catch((e) => e);
    expect(err).toBeInstanceOf(TubularError);
    expect(err.context.reason).toBe("timeout");
  });

  it("fails pending requests at once when closed", async () => {
    const { a } = pair({}, { never: () => new Promise(() => undefined) });
    const p = a.request("never");
    a.close(new TubularError("TUBULAR_ERR_RPC", "gone", { reason: "disconnected" }));
    await expect(p).rejects.toThrow("gone");
    await expect(a.request("never")).rejects.toThrow("gone");
  });

  it("bounds the calls in flight with OVERLOADED", async () => {
    const { peer, out } = lone({ slow: () => sleep(50) }, 2);
    peer.receive(JSON.stringify([1, 2, 3, 4].map((id) => ({ jsonrpc: "2.0", method: "slow", id }))));
    await sleep(100);
    const codes = (out[0] as any[]).map((r) => r.error?.code ?? "ok");
    expect(codes.filter((c) => c === RpcCodes.OVERLOADED)).toHaveLength(2);
    expect(codes.filter((c) => c === "ok")).toHaveLength(2);
  });

  it("answers -32603 when a result cannot be encoded", async () => {
    const cyc: any = {};
    cyc.self = cyc;
    const { peer, out } = lone({ cyc: () => cyc });
    peer.receive('{"jsonrpc":"2.0","method":"cyc","id":1}');
    await sleep(5);
    expect((out[0] as any).error.code).toBe(-32603);
  });
});

describe("bridge peer - what a message may cost", () => {
  it("counts each refused message of a batch, unknown methods included, but not responses nobody waits for", async () => {
    const kinds: string[] = [];
    const out: unknown[] = [];
    const peer = new JsonRpcPeer({ send: (t) => out.push(JSON.parse(t)), resolve: () => undefined, onBadFrame: (k) => kinds.push(k) });
    peer.receive(JSON.stringify([1, 2, 3].map((id) => ({ jsonrpc: "2.0", method: `m${id}`, id }))));
    peer.receive('{"jsonrpc":"2.0","method":"event"}');
    // The reference client's answer to a notification it has no handler for.
    peer.receive('{"jsonrpc":"2.0","id":null,"error":{"code":-32601,"message":"Method \'event\' not found.","data":{"method":"event"}}}');
    await sleep(5);
    expect(kinds).toEqual(["unknown-method", "unknown-method", "unknown-method", "unknown-response"]);
  });

  it("echoes at most 256 characters of an unknown method name, and at most 20 issues", async () => {
    const { peer, out } = lone({ strict: () => 1 });
    peer.receive(JSON.stringify({ jsonrpc: "2.0", method: "m".repeat(10_000), id: 1 }));
    await sleep(5);
    expect(((out[0] as any).error.data.method as string).length).toBeLessThanOrEqual(257);
    const schema = z.object({ xs: z.array(z.string()) });
    const parsed = schema.safeParse({ xs: Array(500).fill(1) });
    const { issuesData } = await import("../../src/bridge/jsonrpc.ts");
    const data = issuesData(parsed.error!);
    expect(data.issues).toHaveLength(20);
    expect(data.more_issues).toBe(480);
  });

  it("answers a result over maxMessageBytes with RESULT_TOO_LARGE, splits a batch's replies, and refuses to send a large request", async () => {
    const out: string[] = [];
    const peer = new JsonRpcPeer({ send: (t) => out.push(t), resolve: () => (p: any) => "x".repeat(p.n), maxMessageBytes: 1000 });
    peer.receive(JSON.stringify({ jsonrpc: "2.0", method: "make", params: { n: 2000 }, id: "big" }));
    await sleep(5);
    expect(JSON.parse(out[0]!)).toEqual({
      jsonrpc: "2.0",
      id: "big",
      error: { code: RpcCodes.RESULT_TOO_LARGE, message: expect.stringMatching(/^Result too large: \d+ bytes, at most 1000$/), data: { bytes: expect.any(Number), max_bytes: 1000 } },
    });
    out.length = 0;
    peer.receive(JSON.stringify([1, 2, 3].map((id) => ({ jsonrpc: "2.0", method: "make", params: { n: 400 }, id }))));
    await sleep(5);
    const arrays = out.map((t) => JSON.parse(t));
    expect(out.every((t) => Buffer.byteLength(t) <= 1000)).toBe(true);
    expect(arrays.every(Array.isArray)).toBe(true);
    expect(arrays.flat().map((r: any) => r.id)).toEqual([1, 2, 3]);
    const err: any = await peer.request("run_callable", { pad: "y".repeat(2000) }).catch((e) => e);
    expect(err.context.reason).toBe("too-large");
    expect(peer.notify("event", { pad: "y".repeat(2000) })).toBe("too-large");
  });
});

describe("bridge errors - application error mapping", () => {
  it("a NodeError carries node id, epoch, error type and message in data", () => {
    const e = toRpcError(NodeError.from("div", 4, new RangeError("division by zero")));
    expect(e.toWire()).toEqual({
      code: RpcCodes.NODE_FAILED,
      message: 'node "div" at epoch 4: RangeError: division by zero',
      data: { code: "TUBULAR_ERR_NODE_FAILED", node_id: "div", epoch: 4, error_type: "RangeError", error_message: "division by zero" },
    });
  });

  it("a spec error is SPEC_INVALID with file and path; an unknown error is internal without its stack", () => {
    const s = toRpcError(new SpecError("TUBULAR_ERR_SPEC_INVALID", "<inline>", "nodes.a.type", "bad"));
    expect(s.rpcCode).toBe(RpcCodes.SPEC_INVALID);
    expect(s.data).toMatchObject({ code: "TUBULAR_ERR_SPEC_INVALID", file: "<inline>", path: "nodes.a.type" });
    const i = toRpcError(new Error("x")).toWire();
    expect(i).toEqual({ code: -32603, message: "Internal error", data: { message: "x" } });
  });

  it("encodes bigints, typed arrays and maps", () => {
    expect(encode({ a: 1n, b: new Uint8Array([1, 2]), c: new Map([["k", 1]]) })).toBe('{"a":"1","b":[1,2],"c":{"k":1}}');
  });
});

describe("bridge auth - API keys", () => {
  it("reads Api-Key and Bearer schemes, nothing else", () => {
    expect(keyFromHeader("Api-Key abc")).toBe("abc");
    expect(keyFromHeader("Bearer abc")).toBe("abc");
    expect(keyFromHeader("Basic abc")).toBeUndefined();
    expect(keyFromHeader(undefined)).toBeUndefined();
  });

  it("checks keys by digest and returns the same principal for the same key", () => {
    const keys = new ApiKeys(["k1", "k2"]);
    expect(keys.check("k1")).toMatch(/^[0-9a-f]{64}$/);
    expect(keys.check("k1")).toBe(keys.check("k1"));
    expect(keys.check("k1")).not.toBe(keys.check("k2"));
    expect(keys.check("nope")).toBeUndefined();
    expect(keys.check(undefined)).toBeUndefined();
  });
});

describe("bridge heartbeat keeper", () => {
  it("beats for calls older than the interval, and stops when none is left", async () => {
    const beats: unknown[] = [];
    const k = new HeartbeatKeeper(40, (id) => beats.push(id));
    k.track("a");
    await sleep(130);
    k.done("a");
    const n = beats.length;
    expect(n).toBeGreaterThanOrEqual(2);
    await sleep(80);
    expect(beats.length).toBe(n);
  });
});

describe("bridge events - batching and backpressure", () => {
  it("sends one notification per turn, and counts drops while the socket is backed up", async () => {
    const sent: any[] = [];
    let buffered = 0;
    const b = new EventBatcher(() => ({ notify: (_m, p) => (sent.push(p), "sent" as const), buffered: () => buffered }));
    const sub = { id: "s", runnerId: "r", nodes: undefined, signals: undefined };
    const ev = (i: number) => ({ id: i, timestamp: 0, node_id: "n", signal: "value", epoch: i, value: i });
    b.push(sub, ev(1));
    b.push(sub, ev(2));
    await sleep(5);
    expect(sent).toHaveLength(1);
    expect(sent[0].events).toHaveLength(2);
    buffered = 1e9;
    b.push(sub, ev(3));
    buffered = 0;
    b.push(sub, ev(4));
    await sleep(5);
    expect(sent[1]).toMatchObject({ dropped: 1, events: [{ id: 4 }] });
  });
});

describe("bridge events - size limit", () => {
  it("splits a batch over the message size limit, and drops (and counts) a single event over it", async () => {
    const sent: any[] = [];
    // The sink refuses notifications with more than 2 events, and any event whose value is "huge".
    const b = new EventBatcher(() => ({
      notify: (_m, p: any) => (p.events.length > 2 || p.events.some((e: any) => e.value === "huge") ? "too-large" : (sent.push(p), "sent")),
      buffered: () => 0,
    }));
    const sub = { id: "s", runnerId: "r", nodes: undefined, signals: undefined };
    const ev = (i: number, value: unknown = i) => ({ id: i, timestamp: 0, node_id: "n", signal: "value", epoch: i, value });
    for (let i = 1; i <= 5; i++) b.push(sub, ev(i));
    await sleep(5);
    expect(sent.flatMap((p) => p.events.map((e: any) => e.id))).toEqual([1, 2, 3, 4, 5]);
    sent.length = 0;
    b.push(sub, ev(6, "huge"));
    await sleep(5);
    b.push(sub, ev(7));
    await sleep(5);
    expect(sent).toEqual([expect.objectContaining({ dropped: 1, events: [expect.objectContaining({ id: 7 })] })]);
  });
});

describe("bridge OpenRPC document", () => {
  it("lists every contract method with its params from the zod schemas", () => {
    const doc = openRpcDocument(methods) as any;
    expect(doc.openrpc).toBe("1.3.2");
    const names = doc.methods.map((m: any) => m.name);
    for (const m of ["tube.load", "runner.init", "runner.process", "runner.start", "runner.stop", "runner.status", "runner.deinit", "events.subscribe", "events.unsubscribe", "callables.register", "rpc.discover", "runner.run", "run_function"]) {
      expect(names).toContain(m);
    }
    const init = doc.methods.find((m: any) => m.name === "runner.init");
    expect(init.params.map((p: any) => [p.name, p.required])).toEqual([
      ["tube_id", true],
      ["runner", false],
      ["options", false],
      ["track", false],
      ["run_uuid", false],
    ]);
    expect(init.params[1].schema.enum).toEqual(["local", "zmq"]);
    expect(z.string().safeParse(doc.info.version).success).toBe(true);
  });
});
