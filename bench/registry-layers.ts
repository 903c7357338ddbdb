/**
 * Where a job-registry event append's server CPU goes, by layer: the events
 * phase of bench/registry.bench.ts alone (32 clients, lean HTTP/1.1, one
 * kept-alive connection each, bench/registry-load.ts), against one server in
 * this process answering `POST /runs/{id}/events` in one of three ways:
 *
 *   bare     BridgeServer with a handler that reads the body and answers a
 *            fixed run-shaped JSON: node:http and the bridge's dispatch only
 *   nostore  the registry's router, schema, views and answer, but the event
 *            is not written (the run is read from the store, unchanged)
 *   full     the registry as served
 *
 *   npx tsx bench/registry-layers.ts full|nostore|bare [--events 300]
 *
 * Prints one JSON line: events/s and server / client CPU ms per event. Run
 * the modes alternately (the machine's load moves between runs): the
 * differences between modes are the layers' costs. Set-up (creating and
 * starting the runs) uses the real registry in every mode and is not counted.
 */
import { fork } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import pino from "pino";
import { openJobServer } from "../src/bridge/registry/index.ts";
import { BridgeServer } from "../src/bridge/server.ts";
import { benchDir, emit } from "./lib.ts";

const args = process.argv.slice(2);
const mode = args[0] ?? "full";
if (!["full", "nostore", "bare"].includes(mode)) throw new Error(`mode: full, nostore or bare, got "${mode}"`);
const i = args.indexOf("--events");
const EVENTS = i >= 0 ? Number(args[i + 1]) : 300;
const CLIENTS = 32;
const KEY = "bench-key";

type Reply = { ready?: true; loaded?: true; cpu_ms?: number; error?: string };

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "tubular-bench-layers-"));
  const log = pino({ level: "silent" });
  const jobs = await openJobServer({ db: path.join(dir, "bench.db"), log });
  let measuring = false;
  const answer = JSON.stringify({ id: "x".repeat(36), state: "RUNNING", progress: 0, events: [{ id: 1, type: "INFO", t: "2026-11-30T00:00:00.000Z", msg: "MSG", state: "RUNNING" }] });
  const bare: typeof jobs.httpHandler = (req, res, keys) => {
    if (!measuring || req.method !== "POST" || !String(req.url).endsWith("/events")) return jobs.httpHandler(req, res, keys);
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const text = answer.replace("MSG", String((JSON.parse(Buffer.concat(chunks).toString("utf8")) as { msg: string }).msg));
      res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) }).end(text);
    });
    return true;
  };
  if (mode === "nostore") {
    const addEvent = jobs.registry.addEvent.bind(jobs.registry);
    jobs.registry.addEvent = async (id, body) => {
      if (!measuring) return addEvent(id, body);
      const run = (await jobs.store.getRun(id))!;
      return { run, event: { id: run.next_event_id, type: body.type, t: Date.now(), msg: body.msg, state: run.state, payload: null } };
    };
  }
  const bridge = new BridgeServer({ apiKeys: [KEY], port: 0, httpHandler: mode === "bare" ? bare : jobs.httpHandler, logger: log });
  const { port } = await bridge.start();
  const child = fork(path.join(benchDir, "registry-load.ts"), ["events", String(CLIENTS), String(EVENTS)], {
    execArgv: ["--import", "tsx"],
    env: { ...process.env, BENCH_URL: `http://127.0.0.1:${port}`, BENCH_KEY: KEY, BENCH_DIR: dir },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const replies: Reply[] = [];
  let wake = () => {};
  child.on("message", (m: Reply) => {
    replies.push(m);
    wake();
  });
  // "close", not "exit": the child's last IPC message may arrive after its exit.
  let closed = false;
  child.on("close", () => {
    closed = true;
    wake();
  });
  const reply = async (field: keyof Reply): Promise<Reply> => {
    for (;;) {
      const r = replies.find((m) => m[field] !== undefined || m.error);
      if (r?.error) throw new Error(r.error);
      if (r) return r;
      if (closed) throw new Error(`the load process exited before "${field}"`);
      await new Promise<void>((resolve) => (wake = resolve));
    }
  };
  // Bounded: a lost answer would leave the load process waiting; say so rather than wait forever.
  const guard = setTimeout(() => {
    process.stderr.write(`no result within 120 s (replies: ${JSON.stringify(replies)})\n`);
    child.kill("SIGKILL");
  }, 120_000);
  try {
    await reply("ready");
    measuring = true;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    child.send({ go: true });
    const r = await reply("cpu_ms");
    const wall = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(cpu0);
    const n = CLIENTS * EVENTS;
    emit({
      bench: `registry-layers-${mode}`,
      value: Math.round(n / wall),
      unit: "events/s",
      events: n,
      server_cpu_ms_per_event: Math.round(((c.user + c.system) / 1000 / n) * 1000) / 1000,
      client_cpu_ms_per_event: Math.round((r.cpu_ms! / n) * 1000) / 1000,
    });
  } finally {
    clearTimeout(guard);
    if (child.exitCode === null) child.kill("SIGKILL");
    await bridge.close();
    await jobs.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
