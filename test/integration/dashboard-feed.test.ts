/**
 * The dashboard's feed and files at the wire: what a browser (or anything
 * else) gets before and after a key, from another origin, and what an
 * unwatched run pays (nothing is read while nobody watches).
 */
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { mkdtemp, rm } from "node:fs/promises";
import { Tracker } from "../../src/bridge/tracking/index.ts";
import { openStore } from "../../src/store/open.ts";
import { afterEach, describe, expect, it, vi } from "vitest";
import WebSocket from "ws";
import { BridgeServer } from "../../src/bridge/index.ts";
import { startDashboard, type Dashboard } from "../../src/bridge/dashboard/start.ts";
import { DASHBOARD_WS_PATH, type ServerMessage } from "../../src/bridge/dashboard/messages.ts";
import { ZmqRunner } from "../../src/runner/zmq/zmq-runner.ts";
import { readFileSync } from "node:fs";
import net from "node:net";
import pino from "pino";
import { HostAgent } from "../../src/host/host-agent.ts";
import { loadTubeFromSpec } from "../../src/spec/load.ts";
import { generateKeyPair } from "../../src/transport/curve.ts";
import { projectRoot } from "../helpers/acceptance.ts";
import { devNull, useZmqRunners } from "../helpers/zmq-runners.ts";
import { until } from "../helpers/until.ts";

const startRunner = useZmqRunners();
// Heartbeats of 1 s rather than 250 ms: a machine loaded by other work must not make a runner look dead.
const started = (spec: unknown) => startRunner(spec, { heartbeatMs: 1000 });
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const CHAIN = { nodes: { a: { type: "count" }, b: { type: "multiply", depends: [{ left: "a.index" }], params: { right: 2 } }, return: { type: "return", depends: "b.value" } } };

async function dashboardOf(runner: ZmqRunner, opts: Omit<Parameters<typeof startDashboard>[0], "runs"> = {}): Promise<Dashboard> {
  const dash = await startDashboard({ runs: [{ id: "run", label: "chain", kind: "zmq", tube: runner.tube, runner }], ...opts });
  cleanups.push(() => dash.close());
  return dash;
}

interface Feed {
  ws: WebSocket;
  messages: ServerMessage[];
  closed: Promise<{ code: number; reason: string }>;
  next(type: ServerMessage["type"], timeoutMs?: number): Promise<ServerMessage>;
}

function feed(dash: Dashboard, headers: Record<string, string> = {}): Promise<Feed> {
  const ws = new WebSocket(`${dash.url.replace("http", "ws").replace(/\/$/, "")}${DASHBOARD_WS_PATH}`, { headers });
  cleanups.push(async () => ws.close());
  const messages: ServerMessage[] = [];
  const waiters: Array<() => void> = [];
  ws.on("message", (d) => {
    messages.push(JSON.parse(d.toString()) as ServerMessage);
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })));
  const next = async (type: ServerMessage["type"], timeoutMs = 10_000) => {
    const deadline = Date.now() + timeoutMs;
    let seen = 0;
    for (;;) {
      const m = messages.slice(seen).find((x) => x.type === type);
      if (m) return m;
      seen = 0;
      if (Date.now() > deadline) throw new Error(`no ${type} message within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  };
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve({ ws, messages, closed, next }));
    ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once("error", reject);
  });
}

describe("dashboard - feed", () => {
  it("with keys: hello only until a good key; a wrong key closes 4401, a malformed first message 4400", async () => {
    const runner = await started(CHAIN);
    const dash = await dashboardOf(runner, { apiKeys: ["k1"] });

    const wrong = await feed(dash);
    expect(await wrong.next("hello")).toEqual({ type: "hello", version: 1, mode: "serve", auth: true, jobs: false, tracking: false });
    wrong.ws.send(JSON.stringify({ type: "auth", key: "nope" }));
    expect((await wrong.closed).code).toBe(4401);
    expect(wrong.messages.map((m) => m.type)).toEqual(["hello"]);

    const bad = await feed(dash);
    bad.ws.send("{not json");
    expect((await bad.closed).code).toBe(4400);
    expect(bad.messages.map((m) => m.type)).toEqual(["hello"]);

    const good = await feed(dash);
    good.ws.send(JSON.stringify({ type: "auth", key: "k1" }));
    const graphs = (await good.next("graphs")) as Extract<ServerMessage, { type: "graphs" }>;
    expect(graphs.graphs[0]!.nodes.map((n) => n.id).sort()).toEqual(["a", "b", "return"]);
    expect(graphs.graphs[0]!.edges.map((e) => e.id).sort()).toEqual(["a.index->b.left", "b.value->return.value"]);
    const state = (await good.next("state")) as Extract<ServerMessage, { type: "state" }>;
    expect(state.runs[0]!.nodes.b).toMatchObject({ status: "ready", host: "driver", restarts: 0 });
    expect(state.runs[0]!.nodes.b!.pid).toBe(runner.status().nodes.b!.pid);
  }, 60_000);

  it("refuses an upgrade from another origin, keys or not (another site open in the browser cannot read it)", async () => {
    const runner = await started(CHAIN);
    const dash = await dashboardOf(runner);
    await expect(feed(dash, { Origin: "http://evil.example" })).rejects.toThrow(/HTTP 403/);
    const same = await feed(dash, { Origin: dash.url.replace(/\/$/, "") });
    expect(await same.next("graphs")).toMatchObject({ type: "graphs" });
  }, 60_000);

  it("reads nothing from the runner while nobody watches, about once a second while someone does, and nothing after", async () => {
    const runner = await started(CHAIN);
    const status = vi.spyOn(runner, "status");
    const dash = await dashboardOf(runner, { intervalMs: 300 });
    await runner.start();
    cleanups.push(() => runner.stop());
    await new Promise((r) => setTimeout(r, 1000));
    expect(status).toHaveBeenCalledTimes(0);
    const viewer = await feed(dash);
    await viewer.next("state");
    await until(() => status.mock.calls.length >= 3, 10_000, "three reads of the runner's status");
    const state = viewer.messages.filter((m) => m.type === "state").at(-1) as Extract<ServerMessage, { type: "state" }>;
    expect(state.runs[0]!.state).toBe("running");
    viewer.ws.close();
    await viewer.closed;
    await until(() => dash.viewerCount === 0, 5000, "the viewer gone");
    const after = status.mock.calls.length;
    await new Promise((r) => setTimeout(r, 1000));
    expect(status.mock.calls.length).toBe(after);
  }, 60_000);

  it("shows process time p50/p99 measured where each node runs, and edge rates from counted events (an edge that carries a quarter of the epochs shows a quarter)", async () => {
    const runner = await startRunner(
      {
        nodes: {
          // The two sources share a process: both edge rates then come from the same reports, over the same interval.
          a: { type: "count", group: "sources" },
          s: { type: "sporadic", params: { values: [1], every: 4 }, group: "sources" },
          slow: { type: "sleep", depends: [{ value: "s.value" }], params: { ms: 5 } },
          b: { type: "multiply", depends: [{ left: "a.index" }], params: { right: 2 } },
          return: { type: "return", depends: "b.value" },
        },
      },
      { heartbeatMs: 1000, processes: "per-node" },
    );
    expect(runner.status().nodes.a!.runner).toBe(runner.status().nodes.s!.runner);
    const dash = await dashboardOf(runner, { intervalMs: 500 });
    const viewer = await feed(dash);
    await viewer.next("state");
    await runner.start();
    cleanups.push(() => runner.stop());
    type Run = Extract<ServerMessage, { type: "state" }>["runs"][number];
    const latest = () => (viewer.messages.filter((m) => m.type === "state").at(-1) as Extract<ServerMessage, { type: "state" }>).runs[0]!;
    let run: Run | undefined;
    await until(
      () => {
        run = viewer.messages.some((m) => m.type === "state") ? latest() : undefined;
        // Enough epochs per report interval that a quarter of them is a ratio, not a rounding.
        return run !== undefined && run.edges["a.index->b.left"]! > 40 && run.edges["s.value->slow.value"]! > 0 && run.nodes.slow?.p50Ms != null;
      },
      20_000,
      "edge rates and the slow node's p50 in the feed",
    );
    // Both rates come from one pair of reports of one process: sporadic emits on every 4th of its runs.
    const ratio = run!.edges["s.value->slow.value"]! / run!.edges["a.index->b.left"]!;
    expect(ratio).toBeGreaterThan(0.2);
    expect(ratio).toBeLessThan(0.3);
    // The counts behind them, as the runner reported them: events counted, not runs.
    const m = runner.status().nodes.s!.metrics!;
    expect(m.events.value).toBe(Math.floor(m.runs / 4));
    // The sleep node's process call takes at least its 5 ms where it runs; the others' percentiles are there too.
    expect(run!.nodes.slow!.p50Ms!).toBeGreaterThanOrEqual(4.5);
    expect(run!.nodes.slow!.p99Ms!).toBeGreaterThanOrEqual(run!.nodes.slow!.p50Ms!);
    expect(run!.nodes.b!.p50Ms).toEqual(expect.any(Number));
    expect(run!.nodes.b!.p99Ms).toEqual(expect.any(Number));
    expect(run!.nodes.b!.errors).toBe(0);
    // The tube's return node runs in the driver, measured there.
    expect(run!.nodes.return!.p50Ms).toEqual(expect.any(Number));
    await runner.stop();
    // Once the free-run stopped and the runners' reports went quiet, the edges show no events.
    await until(() => latest().edges["a.index->b.left"] === 0, 20_000, "the edge rate back to zero");
  }, 90_000);

  it("keeps a node's error that came while nobody watched", async () => {
    const runner = await started({
      nodes: {
        a: { type: "count", params: { start: 1, step: -1 } },
        b: { type: "divide", depends: [{ denominator: "a.index" }], params: { numerator: 6 } },
        return: { type: "return", depends: "b.value" },
      },
    });
    const dash = await dashboardOf(runner);
    await expect(runner.run(3)).rejects.toThrow(/division by zero/);
    const viewer = await feed(dash);
    const state = (await viewer.next("state")) as Extract<ServerMessage, { type: "state" }>;
    expect(state.runs[0]!.nodes.b).toMatchObject({ status: "failed", error: { type: "RangeError", message: "division by zero (6 / 0)", epoch: 1, code: "TUBULAR_ERR_NODE_FAILED" } });
    // Counted where b runs: one failed run of three (the report reaches the driver within a heartbeat period).
    await until(() => runner.status().nodes.b!.metrics?.runs === 3 && runner.status().nodes.b!.metrics?.errors === 1, 10_000, "b's figures: three runs, one error");
    expect(state.runs[0]!.nodes.a!.status).not.toBe("failed");
  }, 60_000);

  it("tracked runs: the list, then a chosen run's metrics whole and then only the points logged since; a malformed message closes 4400", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "tubular-dash-track-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const store = await openStore(path.join(dir, "t.db"));
    cleanups.push(() => store.close());
    const tracker = new Tracker(store.tracking);
    const a = await tracker.start({ namespace: "tubular", project: "Demo", name: "a" });
    const b = await tracker.start({ namespace: "tubular", project: "Demo", name: "b" });
    await tracker.log(a.uuid, [{ name: "loss", value: 1, step: 0 }, { name: "loss", value: 0.5, step: 1 }, { name: "note", value: "text", step: 1 }]);
    await tracker.log(b.uuid, [{ name: "loss", value: 2, step: 0 }]);
    const runner = await started(CHAIN);
    const dash = await dashboardOf(runner, { intervalMs: 300, tracking: store.tracking });
    const viewer = await feed(dash);
    expect(await viewer.next("hello")).toMatchObject({ tracking: true });
    const tracked = (await viewer.next("tracked")) as Extract<ServerMessage, { type: "tracked" }>;
    expect(tracked.runs.map((r) => [r.project, r.name, r.status]).sort()).toEqual([["Demo", "a", "RUNNING"], ["Demo", "b", "RUNNING"]]);
    viewer.ws.send(JSON.stringify({ type: "chooseRuns", runs: [a.uuid] }));
    const whole = (await viewer.next("metrics")) as Extract<ServerMessage, { type: "metrics" }>;
    // Numbers only: the text value is not a point.
    expect(whole).toEqual({ type: "metrics", runId: a.uuid, reset: true, points: [{ name: "loss", step: 0, value: 1 }, { name: "loss", step: 1, value: 0.5 }] });
    await tracker.log(a.uuid, [{ name: "loss", value: 0.25, step: 2 }]);
    await tracker.log(b.uuid, [{ name: "loss", value: 9, step: 1 }]);
    await until(() => viewer.messages.filter((m) => m.type === "metrics").length === 2, 10_000, "a second metrics message");
    expect(viewer.messages.filter((m) => m.type === "metrics")[1]).toEqual({ type: "metrics", runId: a.uuid, reset: false, points: [{ name: "loss", step: 2, value: 0.25 }] });
    // Choosing b as well brings b whole; a is not sent again.
    viewer.ws.send(JSON.stringify({ type: "chooseRuns", runs: [a.uuid, b.uuid] }));
    await until(() => viewer.messages.filter((m) => m.type === "metrics").length === 3, 10_000, "a third metrics message");
    expect(viewer.messages.filter((m) => m.type === "metrics")[2]).toMatchObject({ runId: b.uuid, reset: true, points: [{ step: 0, value: 2 }, { step: 1, value: 9 }] });
    await tracker.setStatus(a.uuid, "COMPLETED");
    await until(() => (viewer.messages.filter((m) => m.type === "tracked").at(-1) as Extract<ServerMessage, { type: "tracked" }>).runs.find((r) => r.id === a.uuid)!.status === "COMPLETED", 10_000, "run a shown COMPLETED");
    viewer.ws.send(JSON.stringify({ type: "chooseRuns", runs: "all" }));
    expect((await viewer.closed).code).toBe(4400);
  }, 60_000);

  it("a runner on a host agent shows its resident memory, as its agent reads it on that machine", async () => {
    // A free port for the command node's inbox (the agent must be told where to connect).
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, "127.0.0.1", () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    const command = generateKeyPair();
    const h1 = generateKeyPair();
    const tube = await loadTubeFromSpec({ nodes: { a: { type: "count", host: "h1" }, return: { type: "return", depends: "a.index" } } }, { baseDir: projectRoot });
    const runner = new ZmqRunner(tube, { listen: `tcp://127.0.0.1:${port}`, keys: command, trust: [h1.publicKey], output: devNull, heartbeatMs: 1000 });
    const agent = new HostAgent({ connect: `tcp://127.0.0.1:${port}`, name: "h1", keys: h1, commandKey: command.publicKey, advertise: "127.0.0.1", logger: pino({ level: "silent" }), output: devNull, heartbeatMs: 250 });
    // The run first, then the agent (which would otherwise see its runner's command go away).
    cleanups.push(async () => {
      await runner.deinit();
      await agent.close();
    });
    const init = runner.init();
    await agent.start();
    await init;
    expect(await runner.process()).toBe(0);
    const dash = await dashboardOf(runner, { intervalMs: 300 });
    const viewer = await feed(dash);
    type Run = Extract<ServerMessage, { type: "state" }>["runs"][number];
    const onH1 = (): Run["runners"][number] | undefined =>
      (viewer.messages.filter((m) => m.type === "state").at(-1) as Extract<ServerMessage, { type: "state" }> | undefined)?.runs[0]!.runners.find((r) => r.host === "h1");
    await until(() => (onH1()?.rssBytes ?? null) !== null, 15_000, "the h1 runner's memory in the feed");
    const shown = onH1()!;
    expect(shown.nodes).toEqual(["a"]);
    // This test shares the agent's machine, so it can read the same process's memory and compare.
    const pid = shown.pid!;
    expect(pid).toBe(runner.status().nodes.a!.pid);
    const vmRss = Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) * 1024;
    expect(shown.rssBytes!).toBeGreaterThan(vmRss / 2);
    expect(shown.rssBytes!).toBeLessThan(vmRss * 2);
    // The same figure is in the run's status (what `tubular status` prints).
    expect(runner.status().nodes.a!.rss_bytes).toEqual(expect.any(Number));
  }, 90_000);

  it("beyond loopback a dashboard needs keys", async () => {
    const runner = await started(CHAIN);
    await expect(startDashboard({ runs: [{ id: "r", label: "r", kind: "zmq", tube: runner.tube, runner }], host: "0.0.0.0" })).rejects.toMatchObject({ code: "TUBULAR_ERR_AUTH" });
  }, 60_000);
});

describe("dashboard - files", () => {
  it("the bridge serves the page at / with a content policy, its assets, and nothing outside web/dist", async () => {
    const server = new BridgeServer();
    const { port } = await server.start({ port: 0, apiKeys: ["k"] });
    cleanups.push(() => server.close());
    const base = `http://127.0.0.1:${port}`;
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/text\/html/);
    expect(page.headers.get("content-security-policy")).toMatch(/default-src 'self'/);
    const html = await page.text();
    const asset = /src="\.\/(assets\/[^"]+\.js)"/.exec(html)![1]!;
    const js = await fetch(`${base}/${asset}`);
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toMatch(/javascript/);
    expect(js.headers.get("cache-control")).toMatch(/immutable/);
    // Sent as is (fetch would normalize the dots away): nothing outside web/dist comes back.
    const raw = (p: string) => new Promise<number>((resolve, reject) => http.get({ host: "127.0.0.1", port, path: p }, (res) => (res.resume(), resolve(res.statusCode!))).on("error", reject));
    for (const p of ["/assets/../../package.json", "/assets/..%2f..%2fpackage.json", "/assets/%2e%2e/%2e%2e/src/index.ts", "/assets/nope.js"]) expect(await raw(p)).toBe(404);
    expect((await fetch(`${base}/health`)).status).toBe(200);
    expect((await fetch(`${base}/other`)).status).toBe(404);
  });
});
