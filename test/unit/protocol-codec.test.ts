import { describe, expect, it } from "vitest";
import {
  Codec,
  DropCounter,
  EventValue,
  MAX_MESSAGE_BYTES,
  MESSAGES,
  type Message,
  ProtocolError,
  PROTOCOL_VERSION,
  isEventValue,
  isProcessValue,
  ProcessValue,
  makeMessage,
  processEpochs,
  type MessageOf,
} from "../../src/protocol/index.ts";
import type { TubeEvent } from "../../src/runner/runner.ts";

const T = 1_700_000_000_123;
const ident = {
  node_id: "runner-a",
  outbox: "ipc:///tmp/x/a.sock",
  status: "waiting" as const,
  signals: ["a.value"],
  slots: null,
  subscribed_to: [],
  subscribers: ["command"],
  pid: 1234,
  nodes: { a: { signals: ["value"], slots: null } },
};
const ev = (i: number, value: unknown = { x: i }): TubeEvent => ({ id: i, timestamp: T, node_id: "a", signal: "value", epoch: i, value });

const samples: Message[] = [
  makeMessage("announce", "command", { inbox: "tcp://127.0.0.1:5555", nodes: { "runner-a": ident } }, T),
  makeMessage("identify", "runner-a", ident, T),
  makeMessage("ping", "command", null, T),
  makeMessage("status", "runner-a", { status: "ready" }, T),
  makeMessage("status", "runner-a", { status: "running", node_id: "a", detail: "free-run" }, T),
  makeMessage("init", "command", null, T),
  makeMessage("process", "command", { epoch: 3, input: { k: "v" } }, T),
  makeMessage("process", "command", { epochs: [{ epoch: 4, input: null }, { epoch: 5, input: { n: 1 } }] }, T),
  makeMessage("start", "command", { n: null }, T),
  makeMessage("start", "command", { n: 10 }, T),
  makeMessage("stop", "command", null, T),
  makeMessage("deinit", "command", { stay: true }, T),
  makeMessage("deinit", "command", null, T),
  makeMessage("event", "runner-a", { events: [ev(1), ev(2, "s"), { ...ev(3), epoch: [3, ["m", 0], ["n", 2]] }], done: [["a", "1"], ["b", "2"]] }, T),
  makeMessage("event", "runner-a", { events: [], done: [["a", "7"]] }, T),
  makeMessage("event", "runner-a", { events: [], done: [["a", "8", { err_type: "RangeError", message: "no", traceback: "at y", node_id: "a", epoch: [8, ["m", 1]], code: "TUBULAR_ERR_NODE_FAILED" }]] }, T),
  makeMessage("error", "runner-a", { err_type: "TypeError", message: "boom", traceback: "at x", node_id: "a", epoch: 2, err_args: [1] }, T),
  makeMessage("epoch_ended", "command", { epoch: 9 }, T),
  makeMessage("heartbeat", "command", null, T),
  makeMessage("heartbeat", "runner-a", { status: "ready" }, T),
  makeMessage("init", "command", { first_epoch: 12 }, T),
  makeMessage("init", "command", { first_epoch: 3, enabled: { b: true, c: false } }, T),
  makeMessage("enable", "command", { node: "b", enabled: false }, T),
  makeMessage("status", "runner-a", { status: "ready", node_id: "b", enabled: false }, T),
  makeMessage("host_hello", "host:h1", { name: "h1", labels: ["gpu"], pid: 7, resources: { cpus: 2, memory_total: 8e9, memory_free: 4e9, load: [0.5, 0.4, 0.3], gpus: [{ model: "x", vram_mb: null }] }, runners: [] }, T),
  makeMessage("host_status", "host:h1", { resources: { cpus: 2, memory_total: 8e9, memory_free: 4e9, load: [1, 1, 1], gpus: [] }, runners: [{ run_id: "r", runner_id: "a", pid: 9, state: "running", restarts: 0 }] }, T),
  makeMessage("runner_exit", "host:h1", { run_id: "r", runner_id: "a", pid: 9, code: null, signal: "SIGKILL", restarting: true, restarts: 1 }, T),
  makeMessage("spawn", "command", { run_id: "r", runner_id: "a", config: { runId: "r", runToken: "0123456789abcdef", spec: {}, file: "g.yaml", baseDir: "/g", input: {}, runners: { a: { id: "a", nodes: ["a"], upstream: [] } }, commandInbox: "tcp://10.0.0.1:1", commandOutbox: "tcp://10.0.0.1:2", outbox: { transport: "tcp", bind: "0.0.0.0", advertise: "10.0.0.2" }, logLevel: "info", heartbeatMs: 250, commandTimeoutMs: 5000, maxMessageBytes: 1024, curve_trusted: [], command_key: null }, restart: "on-failure", max_restarts: 3 }, T),
  makeMessage("kill", "command", { run_id: "r", runner_id: null }, T),
  makeMessage("status_request", "operator", null, T),
  makeMessage("status_report", "command", { state: "ready", hosts: {}, nodes: { a: { runner: "a", host: "driver", pid: 7, status: "restarting", restarts: 1, epochs: 3 } }, epochsCompleted: 3 }, T),
  makeMessage("metrics", "runner-a", { metrics: [{ node_id: "a", name: "loss", value: 0.5, step: 3 }] }, T),
  makeMessage("node_metrics", "runner-a", { nodes: { a: { runs: 10, errors: 1, events: { value: 9 }, p50Ms: 0.02, p99Ms: 1.5 }, b: { runs: 0, errors: 0, events: {}, p50Ms: null, p99Ms: null } } }, T),
];

describe("protocol codec - round trip", () => {
  const codec = new Codec();
  it.each(samples.map((m) => [m.type, m] as const))("protocol codec - round-trips %s", (_t, msg) => {
    const frames = codec.encode(msg);
    expect(frames).toHaveLength(1);
    // a different codec instance (another process) decodes it
    expect(new Codec().decode(frames)).toEqual(msg);
  });

  it("protocol codec - covers every message type", () => {
    const types = new Set(samples.map((m) => m.type));
    expect(types.size).toBe(Object.keys(MESSAGES).length);
  });

  it("protocol codec - pub framing puts the sender id first as topic", () => {
    const msg = samples[1] as Message;
    const frames = codec.encodePub(msg);
    expect(frames[0]?.toString()).toBe("runner-a");
    expect(codec.decodePub(frames)).toEqual(msg);
    expect(codec.encodePub(msg, "other")[0]?.toString()).toBe("other");
  });

  it("protocol codec - an event value with whole runners' finished epochs round-trips as its own fixed record", () => {
    const msg = makeMessage("event", "+n0", { events: [], done: [["n3", "4/m.1"]], finished: [["+n0", "4"]] }, T);
    const frames = codec.encodePub(msg, "+n0\u0000e");
    expect(new Codec().decodePub(frames)).toEqual(msg);
  });

  it("protocol codec - router framing splits the identity", () => {
    const msg = samples[2] as Message;
    const got = codec.decodeRouterSafe([Buffer.from("peer"), ...codec.encode(msg)]);
    expect(got?.identity.toString()).toBe("peer");
    expect(got?.message).toEqual(msg);
  });

  it("protocol codec - processEpochs reads both forms", () => {
    expect(processEpochs({ epoch: 1, input: null })).toEqual([{ epoch: 1, input: null }]);
    expect(processEpochs({ epochs: [{ epoch: 1, input: null }, { epoch: 2, input: null }] })).toHaveLength(2);
  });

  it("protocol codec - objects of unshared shapes decode in a fresh codec", () => {
    for (let i = 0; i < 50; i++) {
      const msg = makeMessage("event", "a", { events: [ev(i, { ["k" + i]: i, nested: { ["q" + i]: [i] } })], done: [] }, T);
      expect(new Codec().decode(codec.encode(msg))).toEqual(msg);
    }
  });
});

describe("protocol codec - binary frames", () => {
  const codec = new Codec();
  const big = 8192;
  const arrays = {
    Buffer: Buffer.alloc(big, 7),
    Uint8Array: new Uint8Array(big).fill(3),
    Uint8ClampedArray: new Uint8ClampedArray(big).fill(4),
    Int8Array: new Int8Array(big).fill(-2),
    Int16Array: new Int16Array(big).fill(-300),
    Uint16Array: new Uint16Array(big).fill(60000),
    Int32Array: new Int32Array(big).fill(-70000),
    Uint32Array: new Uint32Array(big).fill(4e9),
    Float32Array: new Float32Array(big).map((_, i) => i / 3),
    Float64Array: new Float64Array(big).map((_, i) => i / 7),
    BigInt64Array: new BigInt64Array(big).fill(-5n),
    BigUint64Array: new BigUint64Array(big).fill(5n),
  };

  it("protocol codec - large typed arrays travel as their own frames and keep their type and bytes", () => {
    const value = { nested: [{ ...arrays }], small: new Float32Array([1.5, 2.5]), smallBuf: Buffer.from("hi") };
    const msg = makeMessage("event", "a", { events: [ev(1, value)], done: [] }, T);
    const frames = codec.encode(msg);
    expect(frames).toHaveLength(1 + Object.keys(arrays).length);
    expect(frames[0]!.length).toBeLessThan(2048); // the bytes are not in the payload
    const out = new Codec().decode(frames.map((f) => Buffer.from(f))) as MessageOf<"event">;
    const got = out.value.events[0]!.value as typeof value;
    for (const [name, arr] of Object.entries(arrays)) {
      const g = (got.nested[0] as Record<string, ArrayBufferView>)[name]!;
      expect(g.constructor.name, name).toBe(arr.constructor.name);
      expect(Buffer.isBuffer(g), name).toBe(name === "Buffer");
      expect(Buffer.from(g.buffer, g.byteOffset, g.byteLength).equals(Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength)), name).toBe(true);
    }
    expect(got.small).toBeInstanceOf(Float32Array);
    expect(Array.from(got.small)).toEqual([1.5, 2.5]);
    expect(Buffer.isBuffer(got.smallBuf)).toBe(true);
    expect(got.smallBuf.toString()).toBe("hi");
  });

  it("protocol codec - a misaligned binary frame is copied into an aligned array", () => {
    const msg = makeMessage("event", "a", { events: [ev(1, new Float64Array(1024).fill(1.25))], done: [] }, T);
    const [payload, bin] = codec.encode(msg) as [Buffer, Buffer];
    const shifted = Buffer.alloc(bin.length + 1).subarray(1);
    bin.copy(shifted);
    const got = (codec.decode([payload, shifted]) as MessageOf<"event">).value.events[0]!.value as Float64Array;
    expect(got).toBeInstanceOf(Float64Array);
    expect(got[1023]).toBe(1.25);
  });

  it("protocol codec - binary frames work in control messages too", () => {
    const msg = makeMessage("process", "command", { epoch: 1, input: { frame: new Uint16Array(4096).fill(9) } }, T);
    const frames = codec.encode(msg);
    expect(frames).toHaveLength(2);
    const got = codec.decode(frames) as MessageOf<"process">;
    expect((got.value as unknown as { input: { frame: Uint16Array } }).input.frame[4095]).toBe(9);
  });

  it("protocol codec - the threshold is configurable", () => {
    const c = new Codec({ binaryThreshold: 16 });
    expect(c.encode(makeMessage("event", "a", { events: [ev(1, Buffer.alloc(16))], done: [] }, T))).toHaveLength(2);
    expect(c.encode(makeMessage("event", "a", { events: [ev(1, Buffer.alloc(15))], done: [] }, T))).toHaveLength(1);
  });
});

describe("protocol codec - drops", () => {
  const ok = makeMessage("ping", "command", null, T);

  function fresh() {
    const warnings: unknown[] = [];
    const logger = { warn: (o: unknown) => warnings.push(o) } as unknown as ConstructorParameters<typeof DropCounter>[0];
    const drops = new DropCounter(logger);
    return { codec: new Codec({ drops, maxMessageBytes: 1024 }), drops, warnings };
  }

  it("protocol codec - garbage bytes are dropped and counted, never thrown", () => {
    const { codec, drops, warnings } = fresh();
    expect(codec.decodeSafe([Buffer.from([0xc1, 0xc1, 0xff])])).toBeUndefined();
    expect(codec.decodeSafe([Buffer.from("hello")])).toBeUndefined();
    expect(codec.decodeSafe([])).toBeUndefined();
    expect(codec.decodePubSafe([Buffer.from("topic")])).toBeUndefined();
    expect(codec.decodeRouterSafe([Buffer.from("id")])).toBeUndefined();
    expect(drops.stats().garbage).toBe(5);
    expect(warnings).toHaveLength(1); // logged once per kind
  });

  it("protocol codec - oversized, bad version, unknown type, wrong schema and bad frames are each counted", () => {
    const { codec, drops, warnings } = fresh();
    const big = new Codec().encode(makeMessage("event", "a", { events: [ev(1, "x".repeat(2000))], done: [] }, T));
    expect(codec.decodeSafe(big)).toBeUndefined();

    const [payload] = new Codec().encode(ok) as [Buffer];
    const v2 = Buffer.from(payload);
    expect(v2[1]).toBe(PROTOCOL_VERSION);
    v2[1] = 99; // [fixarray(5), version, ...]
    expect(codec.decodeSafe([v2])).toBeUndefined();

    const unknown = new Codec().encode({ ...ok, type: "nope" } as unknown as Message);
    expect(codec.decodeSafe(unknown)).toBeUndefined();

    const wrongControl = new Codec().encode({ ...ok, type: "start", value: { n: "many" } } as unknown as Message);
    const wrongEvent = new Codec().encode({ ...ok, type: "event", value: { events: [{ id: "x" }], done: [] } } as unknown as Message);
    const wrongId = new Codec().encode({ ...ok, node_id: "" });
    expect(codec.decodeSafe(wrongControl)).toBeUndefined();
    expect(codec.decodeSafe(wrongEvent)).toBeUndefined();
    expect(codec.decodeSafe(wrongId)).toBeUndefined();

    const withBin = new Codec().encode(makeMessage("event", "a", { events: [ev(1, Buffer.alloc(5000))], done: [] }, T));
    expect(codec.decodeSafe([withBin[0]!])).toBeUndefined(); // frame missing
    expect(codec.decodeSafe([payload, Buffer.alloc(3)])).toBeUndefined(); // frame not referenced

    expect(drops.stats()).toEqual({ garbage: 0, oversized: 1, version: 1, unknown_type: 1, schema: 3, frames: 2 });
    expect(drops.total).toBe(8);
    expect(warnings).toHaveLength(5);
  });

  it("protocol codec - decode throws a ProtocolError with its kind", () => {
    const codec = new Codec();
    try {
      codec.decode([Buffer.from([0xc1])]);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ProtocolError);
      expect((err as ProtocolError).kind).toBe("garbage");
      expect((err as ProtocolError).code).toBe("TUBULAR_ERR_PROTOCOL");
    }
  });

  it("protocol codec - encode refuses a message over the limit", () => {
    const codec = new Codec({ maxMessageBytes: 1000 });
    expect(() => codec.encode(makeMessage("event", "a", { events: [ev(1, Buffer.alloc(5000))], done: [] }, T))).toThrow(/exceeds the limit/);
    expect(MAX_MESSAGE_BYTES).toBe(64 * 1024 * 1024);
  });
});

describe("protocol codec - event fast check", () => {
  const cases: unknown[] = [
    { events: [ev(1)], done: [] },
    { events: [{ ...ev(1), epoch: [1, ["m", 2]] }], done: [["a", "1/m.2"]] },
    { events: [{ ...ev(1), epoch: 1.5 }], done: [] },
    { events: [{ ...ev(1), epoch: [1, ["m"]] }], done: [] },
    { events: [{ ...ev(1), epoch: [] }], done: [] },
    { events: [{ ...ev(1), node_id: "" }], done: [] },
    { events: [{ ...ev(1), signal: 3 }], done: [] },
    { events: [{ id: 1, timestamp: 1, node_id: "a", signal: "s", epoch: 1 }], done: [] },
    { events: [ev(1)], done: [["a"]] },
    { events: [], done: [["a", "1", { err_type: "Error", message: "m", traceback: "", node_id: "a" }]] },
    { events: [], done: [["a", "1", 1]] },
    { events: [], done: [["a", "1", { err_type: "Error", message: "m", node_id: "a" }]] },
    { events: [], done: [["a", "1", { err_type: "Error", message: "m", traceback: "", node_id: "a", epoch: "x" }]] },
    { events: [ev(1)] },
    { events: [], done: [], finished: [["+a", "1"], ["@g", "2"]] },
    { events: [], done: [], finished: [] },
    { events: [], done: [], finished: [["+a"]] },
    { events: [], done: [], finished: [["+a", "1", "x"]] },
    { events: [], done: [], finished: [["+a", 1]] },
    { events: [], done: [], finished: "+a" },
    { events: null, done: [] },
    null,
    [],
  ];
  it.each(cases.map((c, i) => [i, c] as const))("protocol codec - fast check agrees with the zod schema (case %i)", (_i, c) => {
    expect(isEventValue(c)).toBe(EventValue.safeParse(c).success);
  });

  const processCases: unknown[] = [
    { epoch: 1, input: null },
    { epoch: 1, input: { x: 1 } },
    { epochs: [{ epoch: 1, input: null }, { epoch: 2, input: {} }] },
    { epochs: [] },
    { epochs: [{ epoch: 1.5, input: null }] },
    { epoch: 1, input: [1] },
    { epoch: "1", input: null },
    { epoch: 1 },
    null,
    [],
  ];
  it.each(processCases.map((c, i) => [i, c] as const))("protocol codec - process fast check agrees with the zod schema (case %i)", (_i, c) => {
    expect(isProcessValue(c)).toBe(ProcessValue.safeParse(c).success);
  });

  it("protocol codec - strictEvents uses the zod schema", () => {
    const msg = makeMessage("event", "a", { events: [ev(1)], done: [] }, T);
    expect(new Codec({ strictEvents: true }).decode(new Codec().encode(msg))).toEqual(msg);
  });

  it("protocol codec - a record definition from the wire is refused and changes nothing (issue: 20-byte message hung a run)", () => {
    const codec = new Codec();
    const event = makeMessage("event", "a", { events: [ev(1)], done: [["a", "1"]] }, T);
    // [1, "ping", "x", 0, <record 0x40 defined as ["a","b"] with values 1, 2>]: redefined the event structure.
    const hostile = Buffer.from("9501a470696e67a17800d4724092a161a1620102", "hex");
    expect(() => codec.decode([hostile])).toThrow(/record/);
    expect(codec.decodeSafe([hostile])).toBeUndefined();
    expect(codec.drops.stats().garbage).toBe(1);
    expect(codec.decode(codec.encode(event))).toEqual(event);
    // Two-byte record ids and definitions nested in a value are refused the same way.
    for (const hex of ["9501a470696e67a17800d572004092a161a1620102", "9501a470696e67a1780081a176d4724192a161a1620102"]) {
      expect(() => codec.decode([Buffer.from(hex, "hex")])).toThrow(/record/);
    }
    expect(codec.decode(codec.encode(event))).toEqual(event);
  });

  it("protocol codec - nothing we encode defines a record: objects of other shapes are plain maps", () => {
    const codec = new Codec();
    const value = { x: 1, nested: { y: [1, { z: 2 }] }, epoch: 3, input: 4, extra: 5 };
    const [payload] = codec.encode(makeMessage("event", "a", { events: [{ ...ev(1), value }], done: [] }, T));
    // 0xd4 0x72 / 0xd5 0x72 would start a record definition.
    expect(payload!.includes(Buffer.from([0xd4, 0x72]))).toBe(false);
    expect(payload!.includes(Buffer.from([0xd5, 0x72]))).toBe(false);
    expect((codec.decode([payload!]).value as { events: Array<{ value: unknown }> }).events[0]!.value).toEqual(value);
  });
});
