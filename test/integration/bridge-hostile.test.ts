/**
 * Hostile input against a bridge in its own process: each finding of the
 * hostile-input report, with its exact reproduction, must leave the server
 * alive, bounded in memory, and serving well-behaved clients right.
 */
import path from "node:path";
import type net from "node:net";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { bridgeProcess, FUZZ_KEY, wellBehaved, type BridgeReady } from "../fuzz/bridge-served.ts";
import { projectRoot, serveProcess, type Served } from "../fuzz/child-process.ts";
import { connectTcp, exchange, ServerReader, textFrame, upgradeRequest } from "../fuzz/ws-wire.ts";
import { Raw } from "./bridge-raw.ts";
import { until } from "../helpers/until.ts";

const MB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Ready = BridgeReady;

// Each test starts a server process through tsx: seconds on a loaded machine.
vi.setConfig({ testTimeout: 90_000, hookTimeout: 90_000 });


/** A raw TCP WebSocket client past the upgrade, that reads nothing unless told to. */
async function silentClient(port: number): Promise<{ socket: net.Socket; reader: ServerReader; closed: () => boolean; writeErrors: () => number }> {
  const socket = await connectTcp(port);
  const reader = new ServerReader();
  const upgraded = new Promise<void>((resolve, reject) => {
    socket.on("data", function onData(c) {
      reader.push(c);
      if (reader.status === undefined) return;
      socket.off("data", onData);
      if (reader.status !== 101) reject(new Error(`upgrade refused: ${reader.head}`));
      socket.pause();
      socket.on("data", (c) => reader.push(c));
      resolve();
    });
  });
  let closed = false;
  let errors = 0;
  socket.on("close", () => (closed = true));
  socket.on("error", () => errors++);
  socket.write(upgradeRequest({ path: "/ws/v0/rpc/", headers: { Authorization: `Api-Key ${FUZZ_KEY}` } }));
  await upgraded;
  return { socket, reader, closed: () => closed, writeErrors: () => errors };
}

describe("bridge hostile - upgrade requests new URL() rejects (issue 16, 1)", () => {
  let served: Served<{ port: number }>;
  beforeAll(async () => {
    // The real command, as the report ran it.
    served = await serveProcess(path.join(projectRoot, "bin/tubular.js"), ["serve", "--port", "0", "--log-level", "warn"], {
      env: { TUBULAR_API_KEYS: FUZZ_KEY },
      readyOnStderr: { pattern: /serving ws:\/\/[^:]+:(\d+)\//, parse: (m) => ({ port: Number(m[1]) }) },
    });
  });
  afterAll(() => served?.stop());

  it("answers `GET // HTTP/1.1` and the other reported targets with an HTTP error, and keeps serving", async () => {
    // Origin-form targets are paths (not ours: 404); absolute-form ones that do not parse are 400.
    // As plain requests, paths go to the job registry, which asks every request without a key for one (401).
    const expected: Record<string, [upgrade: number, plain: number]> = { "//": [404, 401], "//%zz": [404, 401], "http://[::1": [400, 400], "http://x:99999/": [400, 400] };
    for (const [target, [status, plainStatus]] of Object.entries(expected)) {
      // printf 'GET // HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ...\r\nSec-WebSocket-Version: 13\r\n\r\n' | nc
      const { data } = await exchange(served.ready.port, upgradeRequest({ path: target }));
      expect(data.toString("latin1"), target).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
      // The same target as a plain request.
      const plain = await exchange(served.ready.port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(plain.data.toString("latin1"), target).toMatch(new RegExp(`^HTTP/1\\.1 ${plainStatus} `));
      expect(served.unexpectedExit(), target).toBeUndefined();
    }
    expect(served.unexpectedExit()).toBeUndefined();
    const health = await exchange(served.ready.port, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    expect(health.data.toString("latin1")).toMatch(/^HTTP\/1\.1 200 /);
    await wellBehaved(served.ready.port);
  });
});

describe("bridge hostile - a client that never reads (issue 16, 2)", () => {
  it("closes at the first 1 MB frame of 100 calls to unknown 10 KB method names (1008), without growing", async () => {
    const served = await bridgeProcess();
    try {
      const before = served.rss();
      const { socket, reader } = await silentClient(served.ready.port);
      // This client reads, only to see the close frame: a server dropping a connection with
      // unread input resets it, and a reset discards what the client had not read yet.
      socket.resume();
      const name = "m".repeat(10 * 1024);
      const frame = textFrame(JSON.stringify(Array.from({ length: 100 }, (_, i) => ({ jsonrpc: "2.0", method: `${name}${i}`, params: {}, id: i }))));
      expect(frame.length).toBeGreaterThan(1_000_000);
      const closeSeen = () => reader.frames.some((f) => f.opcode === 0x8);
      for (let i = 0; i < 12 && !socket.destroyed && !closeSeen(); i++) {
        if (!socket.write(frame)) await Promise.race([new Promise((r) => socket.once("drain", r)), sleep(1000)]);
      }
      // What the server said: the session frame, then its close frame with 1008.
      await until(() => reader.frames.some((f) => f.opcode === 0x8), 10_000, "the close frame");
      const close = reader.frames.find((f) => f.opcode === 0x8)!;
      expect(close.payload.readUInt16BE(0)).toBe(1008);
      expect(reader.frames.filter((f) => f.opcode === 0x1)).toHaveLength(1); // the session frame only: no reply was built for the batch
      socket.destroy();
      expect(served.peakRss() - before).toBeLessThan(100 * MB);
      expect(served.unexpectedExit()).toBeUndefined();
      await wellBehaved(served.ready.port);
    } finally {
      await served.stop();
    }
  });

  it("drops a client that keeps sending but answers no ping: incoming messages do not count as alive", async () => {
    const served = await bridgeProcess({ deadPeerMs: 1500 });
    try {
      const c = await silentClient(served.ready.port);
      const started = Date.now();
      const note = textFrame(JSON.stringify({ jsonrpc: "2.0", method: "anything" }));
      while (!c.closed() && c.writeErrors() === 0 && Date.now() - started < 30_000) {
        c.socket.write(note);
        await sleep(100);
      }
      expect(c.closed() || c.writeErrors() > 0).toBe(true);
      // Dropped after about 1.5 s of no pong (plus a check interval, and the machine's load), not never.
      expect(Date.now() - started).toBeLessThan(20_000);
      c.socket.destroy();
    } finally {
      await served.stop();
    }
  });

  it("stops reading a client whose replies pile up, bounded in memory, and serves others meanwhile", async () => {
    const served = await bridgeProcess({ deadPeerMs: 60_000 });
    try {
      const before = served.rss();
      const { socket } = await silentClient(served.ready.port);
      // Valid calls whose replies are larger than the requests: rpc.discover, 50 per frame (within the 64 calls in flight).
      const batch = textFrame(JSON.stringify(Array.from({ length: 50 }, (_, i) => ({ jsonrpc: "2.0", method: "rpc.discover", id: i }))));
      const deadline = Date.now() + 20_000;
      let stalled = false;
      while (Date.now() < deadline) {
        if (!socket.write(batch)) {
          const drained = await Promise.race([new Promise<boolean>((r) => socket.once("drain", () => r(true))), sleep(1500).then(() => false)]);
          if (!drained) {
            stalled = true;
            break;
          }
        }
      }
      // The server stopped taking the client's frames: its writes no longer drain.
      expect(stalled).toBe(true);
      await wellBehaved(served.ready.port);
      const grown = served.peakRss() - before;
      console.log(`non-reading client of valid calls: server RSS ${(before / MB).toFixed(0)} MiB before, peak ${(served.peakRss() / MB).toFixed(0)} MiB`);
      expect(grown).toBeLessThan(150 * MB);
      expect(served.unexpectedExit()).toBeUndefined();
      socket.destroy();
    } finally {
      await served.stop();
    }
  });

  it("drops a non-reading client whose queued replies pass the send-buffer bound", async () => {
    const served = await bridgeProcess({ maxBufferedBytes: 256 * 1024, deadPeerMs: 60_000 });
    try {
      const c = await silentClient(served.ready.port);
      const batch = textFrame(JSON.stringify(Array.from({ length: 100 }, (_, i) => ({ jsonrpc: "2.0", method: "rpc.discover", id: i }))));
      for (let i = 0; i < 20 && !c.closed(); i++) {
        c.socket.write(batch);
        await sleep(50);
      }
      c.socket.resume(); // read to the end: the server dropped the connection
      await until(() => c.closed(), 10_000, "the server to drop the connection");
      await wellBehaved(served.ready.port);
      expect(served.unexpectedExit()).toBeUndefined();
    } finally {
      await served.stop();
    }
  });
});

describe("bridge hostile - small requests, huge replies (issue 16, 3)", () => {
  let served: Served<Ready>;
  let raw: Raw;
  let runner: string;
  beforeAll(async () => {
    served = await bridgeProcess();
    raw = await Raw.open(`ws://127.0.0.1:${served.ready.port}/ws/v0/rpc/`, FUZZ_KEY);
    raw.autoMirror();
    const tube = await raw.call("tube.load", {
      graph: {
        input: { text: { scope: "process", type: "string" }, hype: { scope: "process", type: "number" }, items: { scope: "process" } },
        nodes: {
          loud: { type: "exclaim", depends: [{ value: "input.text" }, { hype: "input.hype" }] },
          joined: { type: "concat", params: { sep: "é".repeat(1000) }, depends: [{ items: "input.items" }] },
          out: { type: "return", depends: [{ loud: "loud.value" }, { joined: "joined.value" }] },
        },
      },
    });
    expect(tube.error).toBeUndefined();
    runner = (await raw.call("runner.init", { tube_id: tube.result.tube_id })).result.runner_id;
  });
  afterAll(async () => {
    raw?.close();
    await served?.stop();
  });

  it("refuses exclaim with hype 1e8 with a clear error naming the bound, without building it", async () => {
    const before = served.rss();
    const request = { jsonrpc: "2.0", method: "runner.process", params: { runner_id: runner, input: { text: "hi", hype: 1e8, items: [] } }, id: "big" };
    expect(JSON.stringify(request).length).toBeLessThan(200);
    raw.send(request);
    const reply = await raw.reply("big");
    expect(reply.error).toBeDefined();
    expect(JSON.stringify(reply.error)).toMatch(/hype/);
    expect(JSON.stringify(reply.error)).toMatch(/1000/);
    expect(served.peakRss() - before).toBeLessThan(50 * MB);
    const ok = await raw.call("runner.process", { runner_id: runner, input: { text: "hi", hype: 1000, items: [1, 2] } });
    expect(ok.result.value.loud).toBe(`hi${"!".repeat(1000)}`);
    expect(ok.result.value.joined).toBe(`1${"é".repeat(1000)}2`);
  });

  it("answers a result over the reply limit (1 MiB) with RESULT_TOO_LARGE, and the connection goes on", async () => {
    // 900 items joined by a 1000-character separator of two-byte characters: 6 kB asked, about 1.8 MB made.
    const reply = await raw.call("runner.process", { runner_id: runner, input: { text: "a", hype: 1, items: Array(900).fill(0) } }, "huge");
    expect(reply.error).toMatchObject({ code: -32007, data: { max_bytes: MB } });
    expect(reply.error.data.bytes).toBeGreaterThan(MB);
    expect(reply.error.message).toMatch(/Result too large/);
    const after = await raw.call("runner.process", { runner_id: runner, input: { text: "b", hype: 2, items: [] } });
    expect(after.result.value.loud).toBe("b!!");
  });
});
