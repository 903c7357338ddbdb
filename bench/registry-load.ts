/**
 * The load side of bench/registry.bench.ts, in its own process as it is
 * deployed (host agents and clients are not in the server's process):
 *
 *   worker ID      one host agent (RegistryWorker, LocalRunner, 4 runs at once)
 *   submit N C     C concurrent submitters posting N runs of a trivial graph, each over its
 *                  own kept-alive connection (bench/lean-http.ts), every answer checked to be 201
 *   events C N     C concurrent clients each appending N INFO events to their own RUNNING run,
 *                  each over its own kept-alive connection (bench/lean-http.ts), every answer
 *                  checked to be 200 with the event stored
 *
 * Driven over IPC by the bench: "go" starts the work, "stop" ends it; every
 * process answers with its CPU time (user + system, ms) since "go".
 */
import { performance } from "node:perf_hooks";
import pino from "pino";
import { RegistryClient } from "../src/bridge/registry/client.ts";
import { RegistryWorker } from "../src/host/registry-worker.ts";
import { LeanHttpConnection } from "./lean-http.ts";

export const TRIVIAL_GRAPH = { noob_id: "trivial", nodes: { a: { type: "count" }, return: { type: "return", depends: "a.index" } } };

type Msg = { go?: true; stop?: true };

function send(m: Record<string, unknown>): void {
  process.send!(m);
}

/**
 * The last reply, then the channel closed once it is written: disconnecting right after
 * `process.send` dropped a large reply (32 clients x 1,000 latencies) and the bench saw the
 * process exit without it.
 */
function sendLast(m: Record<string, unknown>): void {
  process.send!(m, undefined, {}, () => process.disconnect());
}

function cpuMs(since: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(since);
  return (c.user + c.system) / 1000;
}

async function main(): Promise<void> {
  const [role, a, b] = process.argv.slice(2);
  const url = process.env.BENCH_URL!;
  const key = process.env.BENCH_KEY!;
  const log = pino({ level: "silent" });
  let cpu0 = process.cpuUsage();
  const onMessage = (handler: (m: Msg) => Promise<void>) => process.on("message", (m: Msg) => void handler(m).catch((err: Error) => send({ error: err.stack ?? err.message })));

  if (role === "worker") {
    const worker = new RegistryWorker({ url, apiKey: key, workerId: a!, maxRuns: 4, runner: "local", pollMs: 20, logger: log, stateDir: process.env.BENCH_DIR! });
    onMessage(async (m) => {
      if (m.go) {
        // Start-up (registering, starting the run threads) is not a run's cost: counted from here.
        await worker.start();
        cpu0 = process.cpuUsage();
        send({ started: true });
      }
      if (m.stop) {
        const cpu = cpuMs(cpu0);
        await worker.close();
        sendLast({ cpu_ms: cpu });
      }
    });
  } else if (role === "submit") {
    const runs = Number(a);
    const concurrency = Number(b);
    const { hostname, port } = new URL(url);
    onMessage(async (m) => {
      if (!m.go) return;
      cpu0 = process.cpuUsage();
      let next = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          const c = new LeanHttpConnection(hostname, Number(port), `Host: ${hostname}:${port}\r\nX-API-Key: ${key}\r\n`);
          try {
            while (next < runs) {
              next++;
              const a = await c.post("/runs", JSON.stringify({ image: "", graph: TRIVIAL_GRAPH, inputs: {}, priority: next % 5 }));
              if (a.status !== 201) throw new Error(`POST /runs: ${a.status} ${a.body.slice(0, 200)}`);
            }
          } finally {
            c.close();
          }
        }),
      );
      sendLast({ cpu_ms: cpuMs(cpu0) });
    });
  } else if (role === "events") {
    const clients = Number(a);
    const events = Number(b);
    const client = new RegistryClient({ url, apiKey: key });
    await client.heartbeat({ worker_id: "bench-events", resources: { cpu_cores: 0, ram_mb: 0, gpus: [] }, tags: [] });
    const ids: string[] = [];
    for (let i = 0; i < clients; i++) ids.push(String((await client.createRun({ image: "", graph: TRIVIAL_GRAPH, inputs: {}, priority: 100 })).id));
    while ((await client.claim("bench-events", clients)).length > 0);
    for (const id of ids) await client.addEvent(id, { type: "STARTED", msg: "" });
    send({ ready: true });
    onMessage(async (m) => {
      if (!m.go) return;
      cpu0 = process.cpuUsage();
      const latencies: number[] = [];
      const { hostname, port } = new URL(url);
      await Promise.all(
        ids.map(async (id) => {
          const c = new LeanHttpConnection(hostname, Number(port), `Host: ${hostname}:${port}\r\nX-API-Key: ${key}\r\n`);
          try {
            for (let i = 0; i < events; i++) {
              const t = performance.now();
              const a = await c.post(`/runs/${id}/events`, JSON.stringify({ type: "INFO", msg: `event ${i}` }));
              latencies.push(performance.now() - t);
              // Every answer is the run with the event just stored; anything else stops the bench.
              if (a.status !== 200 || !a.body.includes(`"msg":"event ${i}"`)) throw new Error(`event ${i} of run ${id}: ${a.status} ${a.body.slice(0, 200)}`);
            }
          } finally {
            c.close();
          }
        }),
      );
      sendLast({ cpu_ms: cpuMs(cpu0), latencies, runs: ids });
    });
  } else {
    throw new Error(`unknown role ${role}`);
  }
  send({ loaded: true });
}

await main();
