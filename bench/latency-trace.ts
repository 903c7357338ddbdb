/**
 * Where chain3's slow process() calls come from: a measurement script, not
 * part of `npm run bench`.
 *
 *   npx tsx bench/latency-trace.ts [--calls 3000] [--cold 3000] [--only packed]
 *
 * For each configuration it runs `--cold` process() round trips right after
 * init (the "cold" phase: V8 still optimizes the process() path), then
 * `--calls` more ("warm"), and around every call reads the scheduler
 * statistics of every thread of the driver and of the runner processes
 * (/proc/PID/task/TID/schedstat: time on a core, and time waiting on a run
 * queue, ready but without a core). For the slow calls (> 2 ms) of each phase:
 *
 * - `slow_with_run_queue_wait`: our threads waited on run queues for at least
 *   half the call's time above the median (more runnable threads than cores);
 * - `slow_with_own_background_cpu`: our own background threads (every thread
 *   but each process's main thread and libzmq's: V8's compiler and garbage
 *   collector helpers, the runner's heartbeat thread, libuv's pool) ran for at
 *   least half that excess: the runtime's own work took the cores the round
 *   trip needed; slow calls without it waited on other processes' work;
 * - `cpu_ms_per_slow_call`: CPU time of each kind of our threads, per slow
 *   call, beside the same for the other calls (`cpu_ms_per_other_call`).
 *
 * Also reported: the phase of slow calls within the heartbeat period (timers
 * firing would cluster them), and the same hops through plain zeromq.js relays.
 *
 * Configurations: per-node (4 processes: driver + 3 runners), per-node with
 * heartbeats every 5 s instead of 250 ms (timers), packed (driver + 1 runner,
 * the default).
 */
import { closeSync, openSync, readdirSync, readFileSync, readSync } from "node:fs";
import type { ZmqRunner, ZmqRunnerOptions } from "../src/runner/zmq/zmq-runner.ts";
import { rawRelayLatency } from "./raw-relay.ts";
import { arg, chain3Spec, emit, percentile, zmqRunner } from "./lib.ts";

const calls = arg("calls", 3000);
const coldCalls = arg("cold", 3000);
const oi = process.argv.indexOf("--only");
const only = oi >= 0 ? process.argv[oi + 1] : undefined;
const round = (x: number) => Math.round(x * 1000) / 1000;

type Kind = "main" | "zmq" | "background";
const KINDS: Kind[] = ["main", "zmq", "background"];
interface Thread {
  kind: Kind;
  stat: string;
}

/** Every thread of `pids`, by kind: the main thread, libzmq's threads, and the rest (V8's helpers, the heartbeat thread, libuv's pool). */
function threadsOf(pids: number[]): Thread[] {
  return pids.flatMap((pid) => {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      return [];
    }
    return tids.map((tid) => {
      const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
      const kind: Kind = Number(tid) === pid ? "main" : comm.startsWith("ZMQbg") ? "zmq" : "background";
      return { kind, stat: `/proc/${pid}/task/${tid}/schedstat` };
    });
  });
}

const buf = Buffer.alloc(128);
/** Per thread: [ns on a core, ns waiting on a run queue]. */
function sample(threads: Thread[]): Float64Array {
  const out = new Float64Array(threads.length * 2);
  threads.forEach((t, i) => {
    try {
      const fd = openSync(t.stat, "r");
      const n = readSync(fd, buf, 0, buf.length, 0);
      closeSync(fd);
      const [cpu, wait] = buf.toString("utf8", 0, n).split(" ");
      out[2 * i] = Number(cpu);
      out[2 * i + 1] = Number(wait);
    } catch {
      /* a thread that ended: counts nothing from then on */
    }
  });
  return out;
}

interface Call {
  ms: number;
  /** Run-queue wait of all our threads, ms. */
  wait: number;
  /** CPU ms by kind of thread. */
  cpu: Record<Kind, number>;
  phase: number;
}

async function timeCalls(runner: ZmqRunner, threads: Thread[], n: number, heartbeatMs: number): Promise<Call[]> {
  const out: Call[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const a = sample(threads);
    const t = performance.now();
    await runner.process();
    const ms = performance.now() - t;
    const b = sample(threads);
    const cpu: Record<Kind, number> = { main: 0, zmq: 0, background: 0 };
    let wait = 0;
    threads.forEach((th, j) => {
      cpu[th.kind] += (b[2 * j]! - a[2 * j]!) / 1e6;
      wait += (b[2 * j + 1]! - a[2 * j + 1]!) / 1e6;
    });
    out.push({ ms, wait, cpu, phase: (t - t0) % heartbeatMs });
  }
  return out;
}

function report(name: string, phase: "cold" | "warm", list: Call[], processes: number, heartbeatMs: number): void {
  const sorted = list.map((c) => c.ms).sort((a, b) => a - b);
  const p50 = percentile(sorted, 0.5);
  const slow = list.filter((c) => c.ms > 2);
  const rest = list.filter((c) => c.ms <= 2);
  const excess = (c: Call) => (c.ms - p50) / 2;
  const perCall = (cs: Call[]) => Object.fromEntries(KINDS.map((k) => [k, cs.length ? round(cs.reduce((a, c) => a + c.cpu[k], 0) / cs.length) : 0]));
  // Slow calls in each tenth of the heartbeat period: even if timers do not matter.
  const hist = Array.from({ length: 10 }, () => 0);
  for (const c of slow) hist[Math.floor((c.phase / heartbeatMs) * 10)]!++;
  emit({
    bench: `latency-trace-${name}-${phase}`,
    value: round(percentile(sorted, 0.99)),
    unit: "ms (p99)",
    processes,
    p50_ms: round(p50),
    p99_ms: round(percentile(sorted, 0.99)),
    max_ms: round(sorted.at(-1)!),
    slow_calls: slow.length,
    slow_with_run_queue_wait: slow.filter((c) => c.wait >= excess(c)).length,
    slow_with_own_background_cpu: slow.filter((c) => c.cpu.background >= excess(c)).length,
    mean_run_queue_wait_ms_slow_calls: slow.length ? round(slow.reduce((a, c) => a + c.wait, 0) / slow.length) : 0,
    cpu_ms_per_slow_call: perCall(slow),
    cpu_ms_per_other_call: perCall(rest),
    slow_by_heartbeat_phase: hist,
    calls: list.length,
  });
}

async function trace(name: string, options: ZmqRunnerOptions): Promise<void> {
  const runner = await zmqRunner(chain3Spec(), options);
  await runner.init();
  const pids = [process.pid, ...(Object.values(runner.pids()).filter((p) => p !== undefined) as number[])];
  for (let i = 0; i < 100; i++) await runner.process();
  // Listed after the first calls: the runner's threads are all up by then.
  const threads = threadsOf(pids);
  const heartbeatMs = options.heartbeatMs ?? 250;
  const cold = await timeCalls(runner, threads, coldCalls, heartbeatMs);
  const warm = await timeCalls(runner, threads, calls, heartbeatMs);
  await runner.deinit();
  report(name, "cold", cold, pids.length, heartbeatMs);
  report(name, "warm", warm, pids.length, heartbeatMs);
}

if (!only || only === "per-node") await trace("per-node", { processes: "per-node" });
if (!only || only === "per-node-slow-heartbeat") await trace("per-node-slow-heartbeat", { processes: "per-node", heartbeatMs: 5000, commandTimeoutMs: 30_000 });
if (!only || only === "packed") await trace("packed", {});
if (!only || only === "raw-relay") {
  const raw = await rawRelayLatency(calls);
  emit({ bench: "latency-trace-raw-relay", value: round(raw.p99), unit: "ms (p99)", p50_ms: round(raw.p50), p99_ms: round(raw.p99), processes: 4 });
}
