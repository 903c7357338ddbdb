/**
 * TubularClient against a real bridge (and, for timeouts, against a bare
 * WebSocket server that plays a silent or slow peer).
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { BridgeServer, RpcCodes, TubularClient } from "../../src/bridge/index.ts";
import { TubularError } from "../../src/errors.ts";
import { cuttableRelay } from "../helpers/tcp-cut.ts";
import { until } from "../helpers/until.ts";

const KEY = "client-key";
const OTHER_KEY = "client-key-2";
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const WITH_RPC = {
  input: { x: { scope: "process", type: "number" } },
  nodes: {
    r: { type: "rpc", params: { callable: "f" }, depends: [{ v: "input.x" }] },
    out: { type: "return", depends: "r.value" },
  },
};
const slowRpc = (timeout: number) => ({ ...WITH_RPC, nodes: { ...WITH_RPC.nodes, r: { ...WITH_RPC.nodes.r, params: { callable: "f", timeout } } } });

let server: BridgeServer;
let url: string;

beforeAll(async () => {
  server = new BridgeServer();
  ({ url } = await server.start({ port: 0, apiKeys: [KEY, OTHER_KEY], heartbeatIntervalMs: 100, sessionGraceMs: 400 }));
});
afterAll(async () => {
  await server.close();
});

async function connected(opts: ConstructorParameters<typeof TubularClient>[1] = {}): Promise<TubularClient> {
  const c = new TubularClient(url, opts);
  await c.connect(KEY);
  return c;
}

async function runnerFor(c: TubularClient, graph: unknown): Promise<string> {
  const t = (await c.call("tube.load", { graph })) as { tube_id: string };
  const r = (await c.call("runner.init", { tube_id: t.tube_id })) as { runner_id: string };
  return r.runner_id;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

describe("bridge client - connect", () => {
  it("resolves with the session id of the first frame", async () => {
    const c = new TubularClient(url);
    const id = await c.connect(KEY);
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(c.sessionId).toBe(id);
    expect(((await c.call("session.info")) as { session_id: string }).session_id).toBe(id);
    await c.close();
  });

  it("fails at once on a refused key, without retrying", async () => {
    const c = new TubularClient(url);
    const t0 = Date.now();
    const err: any = await c.connect("wrong", { retries: 3, delay: 5 }).catch((e) => e);
    expect(err).toBeInstanceOf(TubularError);
    expect(err.code).toBe("TUBULAR_ERR_AUTH");
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it("retries as the reference does until the server is up", async () => {
    const port = await freePort();
    const late = new BridgeServer();
    const c = new TubularClient(`ws://127.0.0.1:${port}/ws/v0/rpc/`);
    const connecting = c.connect(KEY, { retries: 10, delay: 0.1 });
    await sleep(250);
    await late.start({ port, apiKeys: [KEY] });
    await expect(connecting).resolves.toMatch(/^[0-9a-f-]{36}$/);
    await c.close();
    await late.close();
  });

  it("gives up after `retries` attempts with a clear error", async () => {
    const port = await freePort();
    const c = new TubularClient(`ws://127.0.0.1:${port}/ws/v0/rpc/`);
    await expect(c.connect(KEY, { retries: 2, delay: 0.05 })).rejects.toThrow(/could not connect .* after 2 attempt/);
  });
});

describe("bridge client - call timeouts and heartbeats", () => {
  /** A peer that sends the session frame, then heartbeats `beats` times every `everyMs` for each request, then answers (or never, when answerAfterBeats is false). */
  async function fakeServer(opts: { everyMs: number; beats: number; answer: boolean }) {
    const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    await new Promise((r) => wss.once("listening", r));
    wss.on("connection", (ws) => {
      ws.send(JSON.stringify({ jsonrpc: "2.0", id: null, result: { session_id: "fake" } }));
      ws.on("message", async (d) => {
        const req = JSON.parse(d.toString());
        for (let i = 0; i < opts.beats; i++) {
          await sleep(opts.everyMs);
          ws.send(JSON.stringify({ jsonrpc: "2.0", method: "heartbeat", params: { id: req.id } }));
        }
        if (opts.answer) ws.send(JSON.stringify({ jsonrpc: "2.0", id: req.id, result: "late but fine" }));
      });
    });
    const port = (wss.address() as { port: number }).port;
    return { url: `ws://127.0.0.1:${port}/ws/v0/rpc/`, close: () => new Promise((r) => wss.close(r)) };
  }

  it("rejects only after `timeout` seconds without a reply or heartbeat", async () => {
    const fake = await fakeServer({ everyMs: 0, beats: 0, answer: false });
    const c = new TubularClient(fake.url, { reconnect: false });
    await c.connect("any");
    const t0 = Date.now();
    const err: any = await c.call("x", {}, { timeout: 0.3 }).catch((e) => e);
    const waited = Date.now() - t0;
    expect(err.context.reason).toBe("timeout");
    expect(waited).toBeGreaterThanOrEqual(290);
    expect(waited).toBeLessThan(1500);
    await c.close();
    await fake.close();
  });

  it("a slow call kept alive by heartbeats does not time out", async () => {
    // 1.2 s of work, twice the 0.6 s timeout: alive only thanks to the heartbeats. A beat every 100 ms
    // leaves 0.5 s for a late timer (with beats every 150 ms against 0.3 s, a loaded machine failed it).
    const fake = await fakeServer({ everyMs: 100, beats: 12, answer: true });
    const c = new TubularClient(fake.url, { reconnect: false });
    await c.connect("any");
    const beats: unknown[] = [];
    c.on("heartbeat", (p) => beats.push(p));
    await expect(c.call("x", {}, { timeout: 0.6 })).resolves.toBe("late but fine");
    expect(beats.length).toBe(12);
    await c.close();
    await fake.close();
  });

  it("a slow call on the real bridge is kept alive by the server's heartbeats", async () => {
    const c = await connected();
    // 1.5 s of work against a 0.6 s timeout; the server beats every 100 ms, so a timer may be 0.5 s late.
    await c.serve("f", async (kw) => {
      await sleep(1500);
      return (kw.v as number) + 1;
    });
    const runner = await runnerFor(c, WITH_RPC);
    await expect(c.call("runner.process", { runner_id: runner, input: { x: 1 } }, { timeout: 0.6 })).resolves.toEqual({ epoch: 0, value: 2 });
    await c.close();
  });

  it("a slow callable is kept alive by the client's own heartbeats (rpc node timeout 0.6 s, callable 1.5 s)", async () => {
    const c = await connected({ heartbeatIntervalMs: 100 });
    await c.serve("f", async (kw) => {
      await sleep(1500);
      return kw.v;
    });
    const runner = await runnerFor(c, slowRpc(0.6));
    await expect(c.call("runner.process", { runner_id: runner, input: { x: 5 } })).resolves.toEqual({ epoch: 0, value: 5 });
    await c.close();
  });

  it("an rpc node whose client stays silent past its timeout fails, naming the callable", async () => {
    const c = await connected({ heartbeatIntervalMs: 0 });
    await c.serve("f", () => new Promise(() => undefined));
    const runner = await runnerFor(c, slowRpc(0.2));
    const err: any = await c.call("runner.process", { runner_id: runner, input: { x: 5 } }).catch((e) => e);
    expect(err.rpcCode).toBe(RpcCodes.NODE_FAILED);
    expect(err.data).toMatchObject({ node_id: "r", error_type: "CallableError" });
    expect(err.data.error_message).toMatch(/callable "f".*run_callable: no reply or heartbeat within 0.2 s/);
    await c.close();
  });
});

describe("bridge client - serving the server", () => {
  it("keeps the mirrored graph, and handle() overrides a server-to-client method", async () => {
    const c = await connected();
    const t = (await c.call("tube.load", { graph: WITH_RPC })) as { tube_id: string; mirrored: boolean };
    expect(t.mirrored).toBe(true);
    expect([...c.graph.nodes.values()].map((n) => n.name).sort()).toEqual(["return", "rpc"]);
    expect(c.graph.edges).toHaveLength(2);
    c.handle("create_node", () => {
      throw new Error("not today");
    });
    const t2 = (await c.call("tube.load", { graph: WITH_RPC })) as { mirrored: boolean };
    expect(t2.mirrored).toBe(false);
    await c.close();
  });

  it("serves callables to rpc nodes; a throwing callable fails the node with its name", async () => {
    const c = await connected();
    await c.serve("f", (kw) => {
      if ((kw.v as number) < 0) throw new Error("negative");
      return { doubled: (kw.v as number) * 2 };
    });
    const runner = await runnerFor(c, WITH_RPC);
    expect(await c.call("runner.process", { runner_id: runner, input: { x: 4 } })).toEqual({ epoch: 0, value: { doubled: 8 } });
    const err: any = await c.call("runner.process", { runner_id: runner, input: { x: -1 } }).catch((e) => e);
    expect(err.data.error_message).toMatch(/callable "f".*negative/);
    await c.close();
  });

  it("delivers event notifications to on('event')", async () => {
    const c = await connected();
    await c.serve("f", (kw) => kw.v);
    const runner = await runnerFor(c, WITH_RPC);
    const got: any[] = [];
    c.on("event", (p) => got.push(...p.events));
    await c.call("events.subscribe", { runner_id: runner, signals: ["value"] });
    await c.call("runner.process", { runner_id: runner, input: { x: 7 } });
    // Notifications may trail the call's result: wait for both, bounded.
    await until(() => got.length >= 2, 5000, "two event notifications");
    expect(got.map((e) => [e.node_id, e.value])).toEqual([
      ["r", 7],
      ["out", 7],
    ]);
    await c.close();
  });
});

describe("bridge client - disconnects", () => {
  it("fails pending calls at once when the socket drops, reconnects with the same key and takes the session back", async () => {
    // The client reaches the bridge through a relay the test cuts, as the network would.
    const relay = await cuttableRelay(Number(new URL(url).port));
    onTestFinished(() => relay.close());
    const c = new TubularClient(url.replace(`:${new URL(url).port}/`, `:${relay.port}/`));
    await c.connect(KEY);
    const sessionId = c.sessionId;
    let called = false;
    await c.serve("f", () => ((called = true), new Promise(() => undefined)));
    const runner = await runnerFor(c, WITH_RPC);
    const statuses: string[] = [];
    c.on("status", (s) => statuses.push(s));
    const pending = c.call("runner.process", { runner_id: runner, input: { x: 1 } }, { timeout: 30 });
    // The call is pending on the server once it called back into the client's node.
    await until(() => called, 5000, "the server to call f");
    const t0 = Date.now();
    relay.cut();
    const err: any = await pending.catch((e) => e);
    expect(Date.now() - t0).toBeLessThan(500);
    expect(err.context.reason).toBe("disconnected");
    expect(err.message).toMatch(/connection to the server was lost/);
    // The next call waits for the reconnect and lands in the same session, runner included.
    const st = (await c.call("runner.status", { runner_id: runner })) as { runner_id: string };
    expect(st.runner_id).toBe(runner);
    expect(c.sessionId).toBe(sessionId);
    expect(statuses).toEqual(expect.arrayContaining(["disconnected", "reconnecting", "connected"]));
    await c.close();
  });

  it("a client killed mid-call: nothing hangs, others are undisturbed, its runners go after the grace period", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "bridge-kill-"));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const script = path.join(dir, "victim.mts");
    await writeFile(
      script,
      `import { TubularClient } from ${JSON.stringify(path.join(ROOT, "src/bridge/client.ts"))};
const c = new TubularClient(${JSON.stringify(url)});
await c.connect(${JSON.stringify(KEY)});
await c.serve("f", () => (process.stdout.write("IN F\\n"), new Promise(() => undefined)));
const t = await c.call("tube.load", { graph: ${JSON.stringify(WITH_RPC)} });
const r = await c.call("runner.init", { tube_id: t.tube_id });
process.stdout.write("CALLING " + c.sessionId + "\\n");
await c.call("runner.process", { runner_id: r.runner_id, input: { x: 1 } });
`,
    );
    // The earlier tests' sessions end within their grace period (0.4 s): counted from none.
    await until(() => server.sessionCount === 0, 5000, "the earlier tests' sessions to end");
    const bystander = await connected();
    const child = spawn(process.execPath, ["--import", "tsx", script], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
    let victimOut = "";
    let victimExit: number | null | undefined;
    child.stdout.on("data", (d) => (victimOut += d));
    child.on("exit", (code) => (victimExit = code));
    await until(() => victimOut.includes("CALLING") || victimExit !== undefined, 30_000, "the victim to start its call");
    expect(victimExit, "the victim exited early").toBeUndefined();
    // Sessions: the bystander's and the victim's.
    expect(server.sessionCount).toBe(2);
    // The server is inside run_callable for the victim once the victim's f runs; then it is killed.
    await until(() => victimOut.includes("IN F"), 10_000, "the server to call the victim's f");
    child.kill("SIGKILL");
    await until(() => victimExit !== undefined, 5000, "the victim to exit");
    // Nothing hangs for the others: the bystander's calls go on at once.
    expect(await bystander.call("session.info")).toMatchObject({ runners: [] });
    // After the grace period (0.4 s) the victim's session, and its runner with it, is gone.
    await until(() => server.sessionCount === 1, 5000, "the victim's session to be disposed");
    await bystander.close();
  });

  it("a session is taken back within the grace period, with the same key only, and is gone after it", async () => {
    const open = (key: string, session?: string) =>
      new Promise<{ ws: WebSocket; first: any }>((resolve, reject) => {
        const ws = new WebSocket(url, { headers: { Authorization: `Api-Key ${key}`, ...(session ? { "X-Tubular-Session": session } : {}) } });
        ws.once("message", (d) => resolve({ ws, first: JSON.parse(d.toString()) }));
        ws.once("error", reject);
      });
    const closeWs = (ws: WebSocket) => new Promise((r) => (ws.once("close", r), ws.close()));
    const a = await open(KEY);
    const id = a.first.result.session_id;
    await closeWs(a.ws);
    const back = await open(KEY, id);
    expect(back.first).toEqual({ jsonrpc: "2.0", id: null, result: { session_id: id, resumed: true } });
    // While attached, nobody else takes it (not even with the same key).
    const twin = await open(KEY, id);
    expect(twin.first.result.session_id).not.toBe(id);
    await closeWs(twin.ws);
    await closeWs(back.ws);
    const stranger = await open(OTHER_KEY, id);
    expect(stranger.first.result.session_id).not.toBe(id);
    await closeWs(stranger.ws);
    await sleep(600);
    const late = await open(KEY, id);
    expect(late.first.result.session_id).not.toBe(id);
    expect(late.first.result.resumed).toBeUndefined();
    await closeWs(late.ws);
  });

  it("close() fails pending calls at once and does not reconnect", async () => {
    const c = await connected();
    let called = false;
    await c.serve("f", () => ((called = true), new Promise(() => undefined)));
    const runner = await runnerFor(c, WITH_RPC);
    const pending = c.call("runner.process", { runner_id: runner, input: { x: 1 } }).catch((e: Error) => e);
    await until(() => called, 5000, "the server to call f");
    await c.close();
    expect(((await pending) as Error).message).toMatch(/closed/);
    await expect(c.call("session.info")).rejects.toThrow(/closed/);
    expect(c.status).toBe("closed");
  });
});
