/**
 * Host agents against a real server: the WebSocket agent (`tubular host
 * --registry ws://.../agent`) registers, runs what it is assigned and reports
 * it; reconnects with its worker id when the server comes back; gives up
 * with an error naming the URL after its tries; stops a terminated run. Every
 * job run, whichever agent runs it, is tracked with the runtime's per-epoch
 * metrics and the nodes' ctx.log, checked through the Run API.
 */
import { fileURLToPath } from "node:url";
import pino from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AgentWorker } from "../../src/host/agent-worker.ts";
import { RegistryWorker } from "../../src/host/registry-worker.ts";
import { until } from "../helpers/until.ts";
import { sqliteTarget, type StoreTarget } from "./registry-stores.ts";
import { KEY, startTestServer, type TestServer } from "./tracking-server.ts";

const FIX = fileURLToPath(new URL("../fixtures/tracking/", import.meta.url));
const LOSS = { noob_id: "loss-graph", nodes: { count: { type: "count" }, loss: { type: "./loss-node.ts#loss", depends: [{ index: "count.index" }] }, return: { type: "return", depends: "loss.value" } } };
const CRASH = { noob_id: "crash-graph", nodes: { count: { type: "count" }, bad: { type: "./loss-node.ts#failAt2", depends: [{ index: "count.index" }] }, return: { type: "return", depends: "bad.value" } } };
// A long run whose epochs wait 1 ms each, as a graph doing I/O does.
const LONG = { noob_id: "long", nodes: { count: { type: "count" }, s: { type: "sleep", depends: "count.index", params: { ms: 1 } }, return: { type: "return", depends: "s.value" } } };
// A CPU-bound run: each epoch computes 6 s without yielding.
const BUSY = { noob_id: "busy", nodes: { count: { type: "count" }, s: { type: "../nodes/busy.ts#spin", depends: [{ value: "count.index" }], params: { ms: 6000 } }, return: { type: "return", depends: "s.value" } } };
const log = pino({ level: process.env.TUBULAR_TEST_LOG ?? "silent" });

describe("agents - host agents over WebSocket and HTTP, every job run tracked", { timeout: 90_000 }, () => {
  let target: StoreTarget;
  let srv: TestServer;
  const closers: Array<() => Promise<void>> = [];

  beforeEach(async () => {
    target = await sqliteTarget();
    srv = await startTestServer(target, { agents: { pollMs: 50, graceMs: 10_000 } });
  });
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
    await srv?.close();
    await target?.cleanup();
  });

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(srv.base + path, { method, headers: { "X-API-Key": KEY, "Content-Type": "application/json" }, ...(body ? { body: JSON.stringify(body) } : {}) });
    return { status: res.status, json: (await res.json()) as any };
  };
  const runApi = async (path: string) => {
    const res = await fetch(`${srv.base}/api/v0/tubular/projects/${path}`, { headers: { Authorization: `Api-Key ${KEY}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as any;
  };
  const submit = async (graph: unknown, epochs: number) => {
    const r = await api("POST", "/runs", { graph, inputs: { epochs }, retry_policy: { max_attempts: 1 } });
    expect(r.status).toBe(201);
    return r.json.id as string;
  };
  const finished = (id: string, ms = 30_000) => until(async () => ((await api("GET", `/runs/${id}`)).json.state as string).match(/^(COMPLETED|FAILED|CANCELLED)$/)?.[0], ms, `run ${id} to finish`);
  const wsAgent = (o: Partial<ConstructorParameters<typeof AgentWorker>[0]> = {}) => {
    const w = new AgentWorker({ url: `ws://127.0.0.1:${srv.port}/agent`, token: KEY, runner: "local", modulesDir: FIX, logger: log, ...o });
    closers.push(() => w.close());
    return w;
  };
  /** The tracked run of a job run, through the Run API, with its metrics by name (ordered by step). */
  const tracked = async (jobId: string) => {
    const runs = (await runApi("jobs/runs/")) as Array<{ uuid: string; name: string; status: string; description: string }>;
    const run = runs.find((r) => r.name === `jobs_${jobId.slice(0, 8)}`);
    if (!run) return undefined;
    const metrics = (await runApi(`jobs/runs/${run.uuid}/metrics/`)) as Array<{ name: string; value: number; step: number }>;
    const of = (name: string) => metrics.filter((m) => m.name === name).sort((a, b) => a.step - b.step);
    return { run, of };
  };

  it("a WebSocket agent registers, runs an assigned graph, reports completed with the outputs; the run is tracked with its metrics", async () => {
    const w = wsAgent({ agentName: "ws-host", maxRuns: 2 });
    const id = await w.start();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    await until(() => srv.agents.connected.find((c) => c.worker_id === id && c.max_processes === 2), 5000, "the worker to be registered");
    const job = await submit(LOSS, 4);
    expect(await finished(job)).toBe("COMPLETED");
    const run = (await api("GET", `/runs/${job}`)).json;
    expect(run.outputs).toEqual({ values: [1, 1 / 2, 1 / 3, 1 / 4] });
    expect(run.worker_id).toBe(id);
    const events = (await api("GET", `/runs/${job}/events`)).json.events.map((e: { type: string }) => e.type);
    expect(events).toEqual(["CREATED", "ASSIGNED", "STARTED", "COMPLETED"]);
    const t = await until(async () => {
      const x = await tracked(job);
      return x?.run.status === "COMPLETED" ? x : undefined;
    }, 5000, "the tracked run to be COMPLETED");
    expect(t.run.description).toContain(job);
    expect(t.of("loss").map((m) => [m.step, m.value])).toEqual([0, 1, 2, 3].map((i) => [i, 1 / (i + 1)]));
    expect(t.of("custom_step").map((m) => m.step)).toEqual([100, 101, 102, 103]);
    expect(t.of("epochs").map((m) => m.value)).toEqual([1, 2, 3, 4]);
    for (const name of ["epochs_per_s", "latency_ms"]) {
      expect(t.of(name)).toHaveLength(4);
      for (const m of t.of(name)) expect(m.value).toBeGreaterThan(0);
    }
    await until(() => srv.agents.connected.find((c) => c.worker_id === id && c.job_count === 0 && c.status === "idle"), 5000, "the status_update after the run");
  });

  it("an HTTP agent's runs are tracked too: metrics through its events, COMPLETED, and CRASHED on a node error", async () => {
    const w = new RegistryWorker({ url: srv.base, apiKey: KEY, workerId: "http-host", runner: "local", modulesDir: FIX, logger: log, pollMs: 50 });
    closers.push(() => w.close());
    await w.start();
    const good = await submit(LOSS, 3);
    expect(await finished(good)).toBe("COMPLETED");
    const bad = await submit(CRASH, 5);
    expect(await finished(bad)).toBe("FAILED");
    const t = await until(async () => {
      const x = await tracked(good);
      return x?.run.status === "COMPLETED" ? x : undefined;
    }, 5000, "the tracked run to be COMPLETED");
    expect(t.of("loss").map((m) => m.value)).toEqual([1, 1 / 2, 1 / 3]);
    expect(t.of("epochs").map((m) => m.value)).toEqual([1, 2, 3]);
    const c = await until(async () => {
      const x = await tracked(bad);
      return x?.run.status === "CRASHED" ? x : undefined;
    }, 5000, "the failed run's tracked run to be CRASHED");
    // Epochs 0 and 1 ran before the node threw at 2.
    expect(c.of("epochs").map((m) => m.value)).toEqual([1, 2]);
  });

  it("the agent reconnects with its worker id when the server comes back, and keeps working", async () => {
    const w = wsAgent();
    const id = await w.start();
    const port = srv.port;
    await srv.close();
    srv = await startTestServer(target, { port, agents: { pollMs: 50 } });
    // The first retry is immediate, the next after 2 s: within a few seconds it is back, with the same id.
    await until(() => w.connections === 2 && srv.agents.connected.find((c) => c.worker_id === id), 20_000, "the worker to register again");
    expect(w.workerId).toBe(id);
    expect(w.connections).toBe(2);
    const job = await submit(LOSS, 2);
    expect(await finished(job)).toBe("COMPLETED");
    expect((await api("GET", `/runs/${job}`)).json.worker_id).toBe(id);
  });

  it("gives up after its tries with an error naming the URL; a refused token counts as a failed try", async () => {
    const port = srv.port;
    await srv.close();
    const url = `ws://127.0.0.1:${port}/agent`;
    const w = wsAgent({ url, maxRetry: 3 });
    const t0 = Date.now();
    const err = await w.start().then(
      () => undefined,
      (e: unknown) => e as { code: string; message: string },
    );
    // Three tries: at once, again at once, then 2 s later (the reference's back-off: 0, 2, 4, ... 10 s).
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1900);
    expect(err?.code).toBe("TUBULAR_ERR_AGENT_UNREACHABLE");
    expect(err?.message).toContain(url);
    expect(err?.message).toContain("after 3 tries");
    srv = await startTestServer(target, { port });
    const wrong = wsAgent({ token: "wrong-key", maxRetry: 1 });
    await expect(wrong.start()).rejects.toThrow(/HTTP 401/);
  });

  it("job_termination stops a running run on the agent; its tracked run is FAILED", async () => {
    const w = wsAgent();
    await w.start();
    const job = await submit(LONG, 1_000_000);
    await until(async () => (await api("GET", `/runs/${job}`)).json.state === "RUNNING", 10_000, "the run to be RUNNING");
    expect(w.running).toBe(1);
    await until(async () => ((await tracked(job))?.of("epochs").length ?? 0) > 0, 10_000, "the first metrics of the run");
    expect((await api("PATCH", `/runs/${job}`, { state: "CANCELLED" })).status).toBe(200);
    await until(() => w.running === 0, 10_000, "the agent to stop the run");
    const t = await until(async () => {
      const x = await tracked(job);
      return x?.run.status === "FAILED" ? x : undefined;
    }, 5000, "the tracked run to be FAILED");
    expect(t.of("epochs").length).toBeGreaterThan(0);
    expect((await api("GET", `/runs/${job}`)).json.state).toBe("CANCELLED");
  });

  it("an in-process run that computes without yielding does not hold the agent: it heartbeats through it, and a cancel stops it at once", async () => {
    const w = new RegistryWorker({ url: srv.base, apiKey: KEY, workerId: "busy-host", runner: "local", modulesDir: FIX, logger: log, pollMs: 50, heartbeatMs: 200 });
    closers.push(() => w.close());
    await w.start();
    const job = await submit(BUSY, 1000);
    await until(async () => (await api("GET", `/runs/${job}`)).json.state === "RUNNING", 10_000, "the run to be RUNNING");
    // The node holds its thread 6 s per epoch; the agent's heartbeats (every 200 ms) go on meanwhile.
    const beat = async () => Date.parse((await api("GET", "/workers")).json.find((x: { worker_id: string }) => x.worker_id === "busy-host").last_heartbeat);
    const first = await beat();
    await until(async () => (await beat()) > first, 3000, "a heartbeat during the busy epoch");
    const second = await beat();
    await until(async () => (await beat()) > second, 3000, "another heartbeat during the busy epoch");
    expect(w.running).toBe(1);
    const asked = Date.now();
    expect((await api("PATCH", `/runs/${job}`, { state: "CANCELLED" })).status).toBe(200);
    // Within the epoch in progress: the run's thread is ended, not waited for.
    await until(() => w.running === 0, 3000, "the agent to stop the run");
    expect(Date.now() - asked).toBeLessThan(3000);
    expect((await api("GET", `/runs/${job}`)).json.state).toBe("CANCELLED");
  });
});
