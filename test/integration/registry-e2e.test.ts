/**
 * End to end: `tubular serve` and two host agents (`tubular host --registry`),
 * one running graphs on the ZeroMQ runner, one in-process; runs submitted
 * over HTTP with mixed priorities and constraints all complete with the right
 * outputs; a node error fails its run; a cancelled run is stopped.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { workerIdentity } from "../../src/host/registry-worker.ts";
import { startTubular } from "../helpers/cli.ts";
import { stopChild } from "../helpers/processes.ts";
import { EXAMPLES, KEY, call } from "./registry-server.ts";
import { until } from "../helpers/until.ts";

const start = (args: string[], ready: RegExp) => startTubular(args, ready, { env: { TUBULAR_API_KEYS: KEY } });

describe("registry end to end - tubular serve and two host agents", () => {
  let dir: string;
  let base: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "tubular-e2e-"));
    const serve = await start(["serve", "--port", "0", "--db", path.join(dir, "jobs.db"), "--graphs", EXAMPLES, "--log-level", "warn"], /job registry at (http:\/\/\S+)/);
    children.push(serve.child);
    base = serve.match[1]!;
    for (const [id, runner, tags, max] of [["zmq-agent", "zmq", "zmq", "2"], ["local-agent", "local", "", "3"]] as const) {
      const agent = await start(["host", "--registry", base, "--api-key", KEY, "--worker-id", id, "--runner", runner, "--max-runs", max, ...(tags ? ["--tags", tags] : []), "--state-dir", dir, "--log-level", "warn"], /working for/);
      children.push(agent.child);
    }
  }, 180_000);

  afterAll(async () => {
    // Agents first (they stop their runners), then the server.
    for (const c of children.slice().reverse()) await stopChild(c);
    await rm(dir, { recursive: true, force: true });
  });

  const c = (m: string, p: string, j?: unknown) => call(base, m, p, j);

  it("50 runs with mixed priorities and constraints all reach COMPLETED with the right outputs", async () => {
    const workers = (await c("GET", "/workers")).body;
    expect(workers.map((w: any) => [w.worker_id, w.status, w.tags])).toEqual([
      ["local-agent", "online", []],
      ["zmq-agent", "online", ["zmq"]],
    ]);
    expect(workers[0].resources.cpu_cores).toBeGreaterThan(0);
    const runs: Array<{ id: string; factor: number; epochs: number; zmq: boolean }> = [];
    for (let i = 0; i < 50; i++) {
      const epochs = 1 + (i % 3);
      const zmq = i % 10 === 0;
      const r = await c("POST", "/runs", { image: "basic.yaml", inputs: { factor: i, epochs }, priority: i % 4, constraints: zmq ? { tags: ["zmq"] } : { cpu: 1 } });
      expect(r.status).toBe(201);
      runs.push({ id: r.body.id, factor: i, epochs, zmq });
    }
    const done = await until(async () => {
      const all = (await c("GET", "/runs?state=COMPLETED&limit=1000")).body as any[];
      return all.length >= 50 ? all : undefined;
    }, 150_000, "50 runs completed");
    const byId = new Map(done.map((r: any) => [r.id, r]));
    for (const r of runs) {
      const got = byId.get(r.id);
      expect(got, r.id).toBeDefined();
      expect(got.outputs).toEqual({ values: Array.from({ length: r.epochs }, (_, e) => e * r.factor) });
      if (r.zmq) expect(got.worker_id).toBe("zmq-agent");
    }
    const one = (await c("GET", `/runs/${runs[4]!.id}`)).body;
    expect(one.events.map((e: any) => e.type).filter((t: string) => t !== "PROGRESS" && t !== "INFO")).toEqual(["CREATED", "ASSIGNED", "STARTED", "COMPLETED"]);
    expect(one.attempts).toEqual([expect.objectContaining({ number: 1, state: "COMPLETED" })]);
    // INFO events carry the run's metrics (for its tracked run), the last of them in the COMPLETED event's payload:
    // every epoch's "epochs" metric arrives once, in one or the other.
    for (const e of one.events.filter((x: any) => x.type === "INFO")) expect(Array.isArray(e.payload.metrics)).toBe(true);
    const steps = one.events.flatMap((e: any) => (e.type === "INFO" || e.type === "COMPLETED" ? (e.payload?.metrics ?? []) : [])).filter((m: any) => m.name === "epochs").map((m: any) => m.step);
    expect(steps).toEqual(Array.from({ length: runs[4]!.epochs }, (_, i) => i));
  }, 180_000);

  it("a node's error fails the run with that error; a cancelled run is stopped by its agent", async () => {
    const failing = (await c("POST", "/runs", { image: "", graph: { nodes: { a: { type: "count", params: { start: 1, step: -1 } }, b: { type: "divide", depends: [{ denominator: "a.index" }], params: { numerator: 10 } }, return: { type: "return", depends: "b.value" } } }, inputs: { epochs: 3 }, priority: 9 })).body;
    const slow = (await c("POST", "/runs", { image: "", graph: { nodes: { a: { type: "count" }, s: { type: "sleep", depends: "a.index", params: { ms: 100 } }, return: { type: "return", depends: "s.value" } } }, inputs: { epochs: 600 }, priority: 9 })).body;
    const failed = await until(async () => {
      const r = (await c("GET", `/runs/${failing.id}`)).body;
      return r.state === "FAILED" ? r : undefined;
    }, 60_000, "the failing run FAILED");
    expect(failed.error_message).toContain("division by zero");
    expect(failed.events.at(-1)).toMatchObject({ type: "FAILED", payload: { error_message: expect.stringContaining('node "b"') } });
    const running = await until(async () => {
      const r = (await c("GET", `/runs/${slow.id}`)).body;
      return r.state === "RUNNING" ? r : undefined;
    }, 60_000, "the slow run RUNNING");
    const listed = async () => (((await c("GET", "/workers")).body as any[]).find((x) => x.worker_id === running.worker_id).running_ops as any[]).some((o) => o.run_id === slow.id);
    await until(async () => ((await listed()) ? true : undefined), 20_000, "the agent to report the slow run in its heartbeat");
    expect((await c("PATCH", `/runs/${slow.id}`, { state: "CANCELLED" })).body.state).toBe("CANCELLED");
    // The agent hears it at its next heartbeat and stops the run: it no longer lists it.
    await until(async () => ((await listed()) ? undefined : true), 20_000, "the agent to drop the cancelled run");
    const after = (await c("GET", `/runs/${slow.id}`)).body;
    expect(after.state).toBe("CANCELLED");
    expect(after.progress).toBeLessThan(100);
  }, 120_000);

  it("a worker's default id is the host name plus a suffix, kept across restarts", async () => {
    const stateDir = path.join(dir, "id-test");
    const first = await workerIdentity(undefined, stateDir);
    expect(first.startsWith(os.hostname().replace(/[^A-Za-z0-9._-]/g, "-"))).toBe(true);
    expect(await workerIdentity(undefined, stateDir)).toBe(first);
    expect((await readFile(path.join(stateDir, "worker-id"), "utf8")).trim()).toBe(first);
    expect(await workerIdentity("given", stateDir)).toBe("given");
  });
});
