/**
 * The job registry under load, on a real server and store, laid out as it is
 * deployed: the server (`tubular serve`'s job registry and bridge) in this
 * process, each host-agent worker and the clients in processes of their own
 * (bench/registry-load.ts), all over HTTP on loopback.
 *
 * 1. runs: `--runs` (1000) runs of a trivial graph submitted by 16 concurrent
 *    submitters (lean HTTP/1.1 client, bench/lean-http.ts), executed by 4 host-agent workers (one process each, local
 *    runner, 4 runs at once each); runs submitted -> completed per second,
 *    from the first submission to the last COMPLETED event stored.
 * 2. events: 32 concurrent clients (one process) each appending `--events`
 *    (1,000) INFO events to their own RUNNING run, each over its own kept-alive
 *    connection with a lean HTTP/1.1 client (bench/lean-http.ts); event
 *    appends per second, and the events the store holds counted afterwards.
 *    1,000 each (32,000 in all, several seconds) so the figure is the server's
 *    steady state: with 200 (about 2 s) V8's warm-up and the first WAL
 *    checkpoints weighed on it.
 *
 *   npx tsx bench/registry.bench.ts [--runs 1000] [--events 1000] [--db postgres://...]
 *
 * Profiles: `node --cpu-prof --import tsx bench/registry.bench.ts` profiles
 * the server; BENCH_PROFILE_LOAD=DIR writes one profile per load process.
 *
 * Default store: SQLite in a temporary file. Prints two JSON lines; CPU time
 * per unit is given for the server process and for all processes together
 * (server, workers, clients), as wall-clock rates depend on what else the
 * machine runs (with --db postgres, the database server's processes too):
 * {"bench":"registry-runs","value":<runs/s>,"unit":"runs/s","server_cpu_ms_per_run","cpu_ms_per_run",...}
 * {"bench":"registry-events","value":<events/s>,"unit":"events/s","p50_ms","p99_ms","server_cpu_ms_per_event","cpu_ms_per_event",...}
 */
import { fork, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import pino from "pino";
import { openJobServer } from "../src/bridge/registry/index.ts";
import { BridgeServer } from "../src/bridge/server.ts";
import { SqliteStore } from "../src/store/sqlite.ts";
import { benchDir, emit } from "./lib.ts";

const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : def;
};
const RUNS = Number(arg("runs", "1000"));
const EVENTS = Number(arg("events", "1000"));
const CLIENTS = 32;
const WORKERS = 4;
const KEY = "bench-key";
const RUN_TIMEOUT_S = 600;

type Reply = { loaded?: true; ready?: true; started?: true; cpu_ms?: number; latencies?: number[]; runs?: string[]; error?: string };

/** A load process (bench/registry-load.ts) and the replies it sends. */
class Load {
  readonly child: ChildProcess;
  private readonly replies: Reply[] = [];
  private waiters: Array<() => void> = [];

  constructor(argv: string[], env: Record<string, string>) {
    this.child = fork(path.join(benchDir, "registry-load.ts"), argv, { execArgv: ["--import", "tsx", ...(process.env.BENCH_PROFILE_LOAD ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE_LOAD}`] : [])], env: { ...process.env, ...env }, stdio: ["ignore", "inherit", "inherit", "ipc"] });
    this.child.on("message", (m: Reply) => {
      if (m.error) process.stderr.write(`load ${argv.join(" ")}: ${m.error}\n`);
      this.replies.push(m);
      for (const w of this.waiters.splice(0)) w();
    });
    this.child.on("exit", () => {
      for (const w of this.waiters.splice(0)) w();
    });
  }

  /** The first reply with `field` (bounded by the child's life). */
  async reply<K extends keyof Reply>(field: K): Promise<Reply> {
    for (;;) {
      const r = this.replies.find((m) => m[field] !== undefined || m.error);
      if (r?.error) throw new Error(r.error);
      if (r) return r;
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`load process exited (${this.child.exitCode ?? this.child.signalCode}) before "${field}"`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  send(m: Record<string, unknown>): void {
    this.child.send(m);
  }

  /** Waits (bounded) for the process to end by itself, as it does after its last reply, then kills it. */
  async end(): Promise<void> {
    const exited = () => this.child.exitCode !== null || this.child.signalCode !== null;
    const deadline = Date.now() + 5000;
    while (!exited() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (!exited()) this.child.kill("SIGKILL");
  }
}

/**
 * CPU time (ms) of the machine's PostgreSQL server processes, from /proc: with --db postgres the
 * database does part of the work outside this process. Other users of the same cluster add to it.
 */
function postgresCpuMs(): number {
  const tick = 100; // USER_HZ on Linux
  let total = 0;
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      if (comm !== "postgres") continue;
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      total += ((Number(f[11]) + Number(f[12])) / tick) * 1000;
    } catch {
      // the process ended meanwhile
    }
  }
  return total;
}

const round = (v: number, d = 2) => Math.round(v * 10 ** d) / 10 ** d;
const cpuMs = (since: NodeJS.CpuUsage) => {
  const c = process.cpuUsage(since);
  return (c.user + c.system) / 1000;
};
function pct(sorted: number[], p: number): number {
  return sorted.length ? round(sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!) : 0;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "tubular-bench-registry-"));
  const dbArg = arg("db", "");
  const schema = dbArg ? `bench_${process.pid}` : undefined;
  const log = pino({ level: "silent" });
  const jobs = await openJobServer({ db: dbArg || path.join(dir, "bench.db"), ...(schema ? { schema } : {}), log });
  // SQLite: writes per committed transaction since the last call (the group commit's mean group).
  let last = { transactions: 0, writes: 0 };
  const groupCommits = () => {
    if (!(jobs.store instanceof SqliteStore)) return {};
    const c = { ...jobs.store.commits };
    const mean = round((c.writes - last.writes) / Math.max(1, c.transactions - last.transactions));
    last = c;
    return { writes_per_commit: mean };
  };
  // Requests the server answered, by method and route, to tell what a run costs in requests.
  const requests = new Map<string, number>();
  const countRequests = () => Object.fromEntries([...requests].sort((a, b) => b[1] - a[1]));
  const httpHandler: typeof jobs.httpHandler = (req, res, keys) => {
    const route = `${req.method} ${String(req.url).replace(/\?.*/, "").replace(/\/runs\/[^/]+/, "/runs/ID").replace(/\/workers\/[^/]+\/claim/, "/workers/ID/claim")}`;
    requests.set(route, (requests.get(route) ?? 0) + 1);
    return jobs.httpHandler(req, res, keys);
  };
  const bridge = new BridgeServer({ apiKeys: [KEY], port: 0, httpHandler, logger: log });
  const { port } = await bridge.start();
  const env = { BENCH_URL: `http://127.0.0.1:${port}`, BENCH_KEY: KEY, BENCH_DIR: dir };
  const loads: Load[] = [];
  const load = (...argv: string[]) => {
    const l = new Load(argv, env);
    loads.push(l);
    return l;
  };

  // The server's side of "every run completed": the COMPLETED events it stores, counted as they are acknowledged.
  let completed = 0;
  let allDone: () => void = () => {};
  const done = new Promise<void>((r) => (allDone = r));
  const addEvent = jobs.registry.addEvent.bind(jobs.registry);
  jobs.registry.addEvent = async (id, body) => {
    const added = await addEvent(id, body);
    if (body.type === "COMPLETED" || body.type === "FAILED") if (++completed === RUNS) allDone();
    return added;
  };

  try {
    // 1. runs submitted -> completed
    const workers = Array.from({ length: WORKERS }, (_, w) => load("worker", `bench-${w}`));
    const submit = load("submit", String(RUNS), "16");
    await Promise.all([...workers, submit].map((l) => l.reply("loaded")));
    for (const w of workers) w.send({ go: true });
    await Promise.all(workers.map((w) => w.reply("started")));
    requests.clear();
    groupCommits();
    const pg0 = postgresCpuMs();
    const cpuRuns = process.cpuUsage();
    const t0 = performance.now();
    submit.send({ go: true });
    const submitCpu = (await submit.reply("cpu_ms")).cpu_ms!;
    const submitted = performance.now();
    // Bounded: a worker that died would leave runs behind; say so rather than wait forever.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      done,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`only ${completed} of ${RUNS} runs finished within ${RUN_TIMEOUT_S} s`)), RUN_TIMEOUT_S * 1000);
      }),
    ]).finally(() => clearTimeout(timer));
    const seconds = (performance.now() - t0) / 1000;
    const serverCpu = cpuMs(cpuRuns);
    const pgRuns = jobs.store.kind === "postgres" ? postgresCpuMs() - pg0 : 0;
    for (const w of workers) w.send({ stop: true });
    const workerCpu = (await Promise.all(workers.map((w) => w.reply("cpu_ms")))).reduce((s, r) => s + r.cpu_ms!, 0);
    const failed = (await jobs.store.listRuns({ states: ["FAILED"], limit: RUNS })).length;
    emit({
      bench: "registry-runs",
      value: Math.round(RUNS / seconds),
      unit: "runs/s",
      runs: RUNS,
      failed,
      workers: WORKERS,
      submitters: "16, lean HTTP/1.1, one kept-alive connection each (bench/lean-http.ts); workers: RegistryWorker with its node:http client",
      server_cpu_ms_per_run: round(serverCpu / RUNS),
      worker_cpu_ms_per_run: round(workerCpu / RUNS),
      submitter_cpu_ms_per_run: round(submitCpu / RUNS),
      ...(jobs.store.kind === "postgres" ? { postgres_cpu_ms_per_run: round(pgRuns / RUNS) } : {}),
      cpu_ms_per_run: round((serverCpu + workerCpu + submitCpu + pgRuns) / RUNS),
      submit_s: round((submitted - t0) / 1000),
      total_s: round(seconds),
      store: jobs.store.kind,
      requests: countRequests(),
      ...groupCommits(),
    });

    // 2. event appends with 32 concurrent clients
    const events = load("events", String(CLIENTS), String(EVENTS));
    await events.reply("ready");
    groupCommits();
    const pgE0 = postgresCpuMs();
    const cpu0 = process.cpuUsage();
    const e0 = performance.now();
    events.send({ go: true });
    const r = await events.reply("cpu_ms");
    const wall = (performance.now() - e0) / 1000;
    const server = cpuMs(cpu0);
    const pgEvents = jobs.store.kind === "postgres" ? postgresCpuMs() - pgE0 : 0;
    const n = CLIENTS * EVENTS;
    // What the clients were told is stored is in the store: CREATED, ASSIGNED, STARTED, then every INFO.
    let stored = 0;
    for (const id of r.runs!) stored += (await jobs.store.listEvents(id)).filter((e) => e.type === "INFO").length;
    if (stored !== n) throw new Error(`the clients appended ${n} events, the store holds ${stored}`);
    const latencies = r.latencies!.sort((a, b) => a - b);
    emit({
      bench: "registry-events",
      value: Math.round(n / wall),
      unit: "events/s",
      clients: CLIENTS,
      events: n,
      stored,
      client: "lean HTTP/1.1, one kept-alive connection per client (bench/lean-http.ts)",
      p50_ms: pct(latencies, 0.5),
      p99_ms: pct(latencies, 0.99),
      server_cpu_ms_per_event: round(server / n, 3),
      client_cpu_ms_per_event: round(r.cpu_ms! / n, 3),
      ...(jobs.store.kind === "postgres" ? { postgres_cpu_ms_per_event: round(pgEvents / n, 3) } : {}),
      cpu_ms_per_event: round((server + r.cpu_ms! + pgEvents) / n, 3),
      wall_s: round(wall),
      store: jobs.store.kind,
      ...groupCommits(),
    });
  } finally {
    await Promise.all(loads.map((l) => l.end()));
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
