/**
 * End to end, as a user runs it: `tubular serve`, one host agent over
 * WebSocket (`--registry ws://.../agent --token`, graphs on the ZeroMQ
 * runner, so the nodes' ctx.log comes from runner processes) and one over
 * HTTP (`--registry http://...`, in-process runner); 30 runs submitted over
 * HTTP all complete with the right outputs, both agents take part, and every
 * run is tracked with its metrics, checked through the Run API.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTubular } from "../helpers/cli.ts";
import { stopChild } from "../helpers/processes.ts";
import { until } from "../helpers/until.ts";

const FIX = fileURLToPath(new URL("../fixtures/tracking/", import.meta.url));
const KEY = "agents-e2e-key";
const LOSS = { noob_id: "loss-graph", nodes: { count: { type: "count" }, loss: { type: "./loss-node.ts#loss", depends: [{ index: "count.index" }] }, return: { type: "return", depends: "loss.value" } } };
const RUNS = 30;
const start = (args: string[], ready: RegExp) => startTubular(args, ready, { env: { TUBULAR_API_KEYS: KEY } });


describe("agents end to end - tubular serve, a WebSocket host agent and an HTTP host agent, every run tracked", () => {
  let dir: string;
  let base: string;
  let wsId: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "tubular-agents-e2e-"));
    const serve = await start(["serve", "--port", "0", "--db", path.join(dir, "jobs.db"), "--log-level", "warn"], /job registry at (http:\/\/\S+)/);
    children.push(serve.child);
    base = serve.match[1]!;
    const ws = await start(["host", "--registry", `${base.replace(/^http/, "ws")}/agent`, "--token", KEY, "--runner", "zmq", "--max-runs", "2", "--modules", FIX, "--log-level", "warn"], /worker (\S+) working for/);
    children.push(ws.child);
    wsId = ws.match[1]!;
    const http = await start(["host", "--registry", base, "--api-key", KEY, "--worker-id", "http-agent", "--runner", "local", "--max-runs", "3", "--modules", FIX, "--state-dir", dir, "--log-level", "warn"], /working for/);
    children.push(http.child);
  }, 180_000);

  afterAll(async () => {
    // Agents first (they stop their runners), then the server.
    for (const c of children.slice().reverse()) await stopChild(c);
    await rm(dir, { recursive: true, force: true });
  });

  const call = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(base + p, { method, headers: { "X-API-Key": KEY, "Content-Type": "application/json" }, ...(body ? { body: JSON.stringify(body) } : {}) });
    return { status: res.status, json: (await res.json()) as any };
  };
  const runApi = async (p: string) => {
    const res = await fetch(`${base}/api/v0/tubular/projects/${p}`, { headers: { Authorization: `Api-Key ${KEY}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as any;
  };

  it(`${RUNS} runs submitted over HTTP all complete with the right outputs on both agents, each tracked with its metrics`, { timeout: 120_000 }, async () => {
    const t0 = Date.now();
    const epochsOf = (i: number) => (i % 3) + 1;
    const ids: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      const r = await call("POST", "/runs", { graph: LOSS, inputs: { epochs: epochsOf(i) } });
      expect(r.status).toBe(201);
      ids.push(r.json.id as string);
    }
    const runs = await until(
      async () => {
        const all = await Promise.all(ids.map(async (id) => (await call("GET", `/runs/${id}`)).json));
        const bad = all.find((r) => r.state === "FAILED" || r.state === "CANCELLED");
        if (bad) throw new Error(`run ${bad.id} ended ${bad.state}: ${bad.error_message}`);
        return all.every((r) => r.state === "COMPLETED") ? all : undefined;
      },
      90_000,
      `all ${RUNS} runs to complete`,
    );
    runs.forEach((r, i) => expect(r.outputs).toEqual({ values: Array.from({ length: epochsOf(i) }, (_, e) => 1 / (e + 1)) }));
    const byWorker = new Map<string, number>();
    for (const r of runs) byWorker.set(r.worker_id, (byWorker.get(r.worker_id) ?? 0) + 1);
    expect([...byWorker.keys()].sort()).toEqual(["http-agent", wsId].sort());

    const tracked = await until(
      async () => {
        const list = (await runApi("jobs/runs/")) as Array<{ uuid: string; name: string; status: string }>;
        const mine = ids.map((id) => list.find((t) => t.name === `jobs_${id.slice(0, 8)}`));
        return mine.every((t) => t?.status === "COMPLETED") ? (mine as Array<{ uuid: string }>) : undefined;
      },
      15_000,
      "every run's tracked run to be COMPLETED",
    );
    for (const [i, t] of tracked.entries()) {
      const metrics = (await runApi(`jobs/runs/${t.uuid}/metrics/`)) as Array<{ name: string; value: number; step: number }>;
      const of = (name: string) => metrics.filter((m) => m.name === name).sort((a, b) => a.step - b.step);
      const n = epochsOf(i);
      expect(of("loss").map((m) => [m.step, m.value])).toEqual(Array.from({ length: n }, (_, e) => [e, 1 / (e + 1)]));
      expect(of("epochs").map((m) => m.value)).toEqual(Array.from({ length: n }, (_, e) => e + 1));
      expect(of("latency_ms")).toHaveLength(n);
    }
    // Printed for the record: how long the whole batch took on this machine.
    process.stderr.write(`agents e2e: ${RUNS} runs on 2 agents, completed and checked in ${Date.now() - t0} ms\n`);
  });
});
