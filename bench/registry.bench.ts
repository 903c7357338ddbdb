/**
 * The job registry under load, on a real server and store:
 *
 * 1. runs: `--runs` (400) runs of a trivial graph submitted over HTTP by 16
 *    concurrent submitters, executed by 4 host-agent workers (in this
 *    process, local runner, 4 runs at once each); runs submitted -> completed
 *    per second, from the first submission to the last completion.
 * 2. events: 32 concurrent clients each appending `--events` (300) INFO
 *    events to their own RUNNING run; event appends per second.
 *
 *   npx tsx bench/registry.bench.ts [--runs 400] [--events 300] [--db postgres://...]
 *
 * Default store: SQLite in a temporary file. Prints two JSON lines:
 * {"bench":"registry-runs","value":<runs/s>,"unit":"runs/s",...}
 * {"bench":"registry-events","value":<events/s>,"unit":"events/s","p50_ms","p99_ms",...}
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import pino from "pino";
import { RegistryClient } from "../src/bridge/registry/client.ts";
import { openJobServer } from "../src/bridge/registry/index.ts";
import { BridgeServer } from "../src/bridge/server.ts";
import { RegistryWorker } from "../src/host/registry-worker.ts";
import { emit } from "./lib.ts";

const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : def;
};
const RUNS = Number(arg("runs", "400"));
const EVENTS = Number(arg("events", "300"));
const CLIENTS = 32;
const KEY = "bench-key";

const GRAPH = { noob_id: "trivial", nodes: { a: { type: "count" }, return: { type: "return", depends: "a.index" } } };

function pct(sorted: number[], p: number): number {
  return sorted.length ? Math.round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]! * 100) / 100 : 0;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "tubular-bench-registry-"));
  const dbArg = arg("db", "");
  const schema = dbArg ? `bench_${process.pid}` : undefined;
  const log = pino({ level: "silent" });
  const jobs = await openJobServer({ db: dbArg || path.join(dir, "bench.db"), ...(schema ? { schema } : {}), log });
  const bridge = new BridgeServer({ apiKeys: [KEY], port: 0, httpHandler: jobs.httpHandler, logger: log });
  const { port } = await bridge.start();
  const url = `http://127.0.0.1:${port}`;
  const client = new RegistryClient({ url, apiKey: KEY });
  const workers: RegistryWorker[] = [];
  try {
    // 1. runs submitted -> completed
    for (let w = 0; w < 4; w++) {
      const worker = new RegistryWorker({ url, apiKey: KEY, workerId: `bench-${w}`, maxRuns: 4, runner: "local", pollMs: 20, logger: log, stateDir: dir });
      await worker.start();
      workers.push(worker);
    }
    const cpuRuns = process.cpuUsage();
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < RUNS) {
          next++;
          await client.createRun({ image: "", graph: GRAPH, inputs: {}, priority: next % 5 });
        }
      }),
    );
    const submitted = performance.now();
    for (;;) {
      const done = await jobs.store.listRuns({ states: ["COMPLETED", "FAILED"], limit: RUNS });
      if (done.length >= RUNS) {
        const failed = done.filter((r) => r.state !== "COMPLETED").length;
        const seconds = (performance.now() - t0) / 1000;
        const cpu = process.cpuUsage(cpuRuns);
        emit({ bench: "registry-runs", value: Math.round(RUNS / seconds), unit: "runs/s", runs: RUNS, failed, workers: 4, cpu_ms_per_run: Math.round(((cpu.user + cpu.system) / 1000 / RUNS) * 100) / 100, submit_s: Math.round((submitted - t0) / 10) / 100, total_s: Math.round(seconds * 100) / 100, store: jobs.store.kind });
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    await Promise.all(workers.map((w) => w.close()));
    workers.length = 0;

    // 2. event appends with 32 concurrent clients
    await client.heartbeat({ worker_id: "bench-events", resources: { cpu_cores: 0, ram_mb: 0, gpus: [] }, tags: [] });
    const ids: string[] = [];
    for (let i = 0; i < CLIENTS; i++) ids.push(String((await client.createRun({ image: "", graph: GRAPH, inputs: {}, priority: 100 })).id));
    while ((await client.claim("bench-events", CLIENTS)).length > 0);
    for (const id of ids) await client.addEvent(id, { type: "STARTED", msg: "" });
    const latencies: number[] = [];
    const cpu0 = process.cpuUsage();
    const e0 = performance.now();
    await Promise.all(
      ids.map(async (id) => {
        const c = new RegistryClient({ url, apiKey: KEY });
        for (let i = 0; i < EVENTS; i++) {
          const t = performance.now();
          await c.addEvent(id, { type: "INFO", msg: `event ${i}` });
          latencies.push(performance.now() - t);
        }
      }),
    );
    const seconds = (performance.now() - e0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    latencies.sort((a, b) => a - b);
    emit({ bench: "registry-events", value: Math.round((CLIENTS * EVENTS) / seconds), unit: "events/s", clients: CLIENTS, events: CLIENTS * EVENTS, p50_ms: pct(latencies, 0.5), p99_ms: pct(latencies, 0.99), cpu_ms_per_event: Math.round(((cpu.user + cpu.system) / 1000 / (CLIENTS * EVENTS)) * 1000) / 1000, wall_s: Math.round(seconds * 100) / 100, store: jobs.store.kind });
  } finally {
    await Promise.all(workers.map((w) => w.close()));
    await bridge.close();
    if (schema && jobs.store.kind === "postgres") {
      const pg = (await import("pg")).default;
      const c = new pg.Client({ connectionString: dbArg });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    }
    await jobs.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
