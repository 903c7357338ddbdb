/**
 * Where chain3's slow process() calls come from: a measurement script, not
 * part of `npm run bench`.
 *
 *   npx tsx bench/latency-trace.ts [--calls 3000]
 *
 * For each configuration it runs `--calls` process() round trips and, around
 * every call, reads the scheduler statistics of every thread of the driver
 * and of the runner processes (/proc/PID/task/TID/schedstat: time spent
 * waiting on a run queue, ready but without a core). A slow call (> 2 ms)
 * whose threads waited on run queues for at least half its time above the
 * median is counted as a scheduling stall: more runnable threads than cores.
 * Also reported: the phase of slow calls within the heartbeat period (timers
 * firing would cluster them), and the same hops through plain zeromq.js relays.
 *
 * Configurations: per-node (4 processes: driver + 3 runners), per-node with
 * heartbeats every 5 s instead of 250 ms (timers), packed (driver + 1 runner).
 */
import { readdirSync, readFileSync } from "node:fs";
import type { ZmqRunnerOptions } from "../src/runner/zmq/zmq-runner.ts";
import { rawRelayLatency } from "./raw-relay.ts";
import { arg, chain3Spec, emit, percentile, zmqRunner } from "./lib.ts";

const calls = arg("calls", 3000);
const round = (x: number) => Math.round(x * 1000) / 1000;

/** Run-queue wait (ns) summed over every thread of `pids`. */
function waitNs(pids: number[]): number {
  let sum = 0;
  for (const pid of pids) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        sum += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[1]);
      } catch {
        /* a thread that just ended */
      }
    }
  }
  return sum;
}

async function trace(name: string, options: ZmqRunnerOptions): Promise<void> {
  const runner = await zmqRunner(chain3Spec(), options);
  await runner.init();
  const pids = [process.pid, ...(Object.values(runner.pids()).filter((p) => p !== undefined) as number[])];
  for (let i = 0; i < 300; i++) await runner.process();
  const lat: number[] = [];
  const wait: number[] = [];
  const phase: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) {
    const w = waitNs(pids);
    const t = performance.now();
    await runner.process();
    const ms = performance.now() - t;
    lat.push(ms);
    wait.push((waitNs(pids) - w) / 1e6);
    phase.push((t - t0) % (options.heartbeatMs ?? 250));
  }
  await runner.deinit();
  const sorted = [...lat].sort((a, b) => a - b);
  const p50 = percentile(sorted, 0.5);
  const slow = lat.map((ms, i) => ({ ms, wait: wait[i]!, phase: phase[i]! })).filter((c) => c.ms > 2);
  const scheduling = slow.filter((c) => c.wait >= (c.ms - p50) / 2).length;
  // Slow calls in each tenth of the heartbeat period: even if timers do not matter.
  const hist = Array.from({ length: 10 }, () => 0);
  for (const c of slow) hist[Math.floor((c.phase / (options.heartbeatMs ?? 250)) * 10)]!++;
  emit({
    bench: `latency-trace-${name}`,
    value: round(percentile(sorted, 0.99)),
    unit: "ms (p99)",
    processes: pids.length,
    p50_ms: round(p50),
    p99_ms: round(percentile(sorted, 0.99)),
    max_ms: round(sorted.at(-1)!),
    slow_calls: slow.length,
    slow_with_run_queue_wait: scheduling,
    mean_run_queue_wait_ms_per_call: round(wait.reduce((a, b) => a + b, 0) / calls),
    mean_run_queue_wait_ms_slow_calls: slow.length ? round(slow.reduce((a, c) => a + c.wait, 0) / slow.length) : 0,
    slow_by_heartbeat_phase: hist,
    calls,
  });
}

await trace("per-node", { processes: "per-node" });
await trace("per-node-slow-heartbeat", { processes: "per-node", heartbeatMs: 5000, commandTimeoutMs: 30_000 });
await trace("packed", {});
const raw = await rawRelayLatency(calls);
emit({ bench: "latency-trace-raw-relay", value: round(raw.p99), unit: "ms (p99)", p50_ms: round(raw.p50), p99_ms: round(raw.p99), processes: 4 });
