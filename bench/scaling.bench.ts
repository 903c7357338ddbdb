/**
 * Scaling: the same measures on graphs of growing size, with ZmqRunner's
 * default options beside LocalRunner on the same graph, in the same run.
 *
 *   npx tsx bench/scaling.bench.ts --graph chain30 [--seconds 2] [--calls 1000]
 *     [--init-runs 3] [--processes packed|per-node] [--warmup-calls 3000]
 *     [--free-runs 3] [--warmup-seconds 1]
 *
 * Graphs: chainN (count -> add -> ... -> return, N nodes before the return)
 * and fanoutK (count -> K adds reading it -> return of the K values).
 * Prints one JSON line: free-run epochs/s of ZmqRunner (`value`) and of
 * LocalRunner, their ratio, process() p50/p99 of both, and init() (median of
 * `--init-runs`), with the number of runner processes. process() is timed
 * after a warm-up of `--warmup-calls` calls (see `latencies`), whose own p99
 * is printed too (`cold_p99_ms`). Free-run is measured the same way on both
 * runners (see `freeRunRate`): an untimed free run of `--warmup-seconds`, then
 * the median rate of `--free-runs` timed ones.
 */
import { loadTubeFromSpec } from "../src/spec/load.ts";
import { LocalRunner } from "../src/runner/local.ts";
import type { Runner } from "../src/runner/runner.ts";
import type { ZmqRunnerOptions } from "../src/runner/zmq/zmq-runner.ts";
import { arg, benchDir, chainSpec, emit, fanOutSpec, freeRunFor, percentile, zmqRunner } from "./lib.ts";

/** What epoch `e` (counting from 0) returns: the check that every runner ran the graph, not just answered. */
function expected(graph: string, e: number): unknown {
  const m = /^(chain|fanout)(\d+)$/.exec(graph)!;
  const n = Number(m[2]);
  return m[1] === "chain" ? e + n - 1 : Array.from({ length: n }, (_, i) => e + i);
}

function specOf(graph: string): Record<string, unknown> {
  const m = /^(chain|fanout)(\d+)$/.exec(graph);
  if (!m) throw new Error(`--graph ${graph}: expected chainN or fanoutK`);
  return m[1] === "chain" ? chainSpec(Number(m[2])) : fanOutSpec(Number(m[2]));
}

/**
 * process() round trips for up to `seconds` or `calls` calls (at least 30), after a warm-up: sorted ms,
 * and the warm-up's own calls, sorted (the cold tail).
 *
 * The warm-up is `warmupCalls` calls (at most `seconds` s): V8's optimizing compiler is still at work on
 * the process() path of the driver and the runner for the first ~3,000 calls (chain3, `--trace-opt` in
 * the driver: 62 functions optimized in the first 3,000 calls after 300, 12 in the next 5,000), on
 * background threads that take the cores a round trip needs. With a warm-up of 100 calls, chain3's p99 over 5,000 calls
 * measured that compilation (docs/performance.md, "chain3's tail").
 */
async function latencies(runner: Runner, calls: number, seconds: number, warmupCalls: number): Promise<{ warm: number[]; cold: number[] }> {
  for (let i = 0; i < 100; i++) await runner.process();
  const cold = await timed(runner, warmupCalls, seconds);
  const warm = await timed(runner, calls, seconds);
  return { warm, cold };
}

async function timed(runner: Runner, calls: number, seconds: number): Promise<number[]> {
  const lat: number[] = [];
  const end = performance.now() + seconds * 1000;
  while (lat.length < calls && (lat.length < 30 || performance.now() < end)) {
    const t = performance.now();
    await runner.process();
    lat.push(performance.now() - t);
  }
  return lat.sort((a, b) => a - b);
}

/**
 * Free-run epochs/s of a warmed-up runner: the median of `runs` timed free
 * runs of `seconds`, after an untimed one of `warmupSeconds`, with every rate.
 *
 * Both runners get the same treatment, so the ratio does not depend on which
 * one V8 has optimized yet: LocalRunner, measured first and cold for 2 s, gave
 * chain100 2,829 epochs/s in one run and about 4,600 in another (1.6x), and
 * the ratio moved from 0.28 to 0.57 with it (docs/performance.md).
 */
async function freeRunRate(runner: Runner, seconds: number, runs: number, warmupSeconds: number): Promise<{ rate: number; rates: number[] }> {
  if (warmupSeconds > 0) await freeRunFor(runner, warmupSeconds, 200);
  const rates: number[] = [];
  for (let i = 0; i < runs; i++) {
    const { epochs, elapsed } = await freeRunFor(runner, seconds, 0);
    rates.push(epochs / elapsed);
  }
  const sorted = [...rates].sort((a, b) => a - b);
  return { rate: sorted[Math.floor(sorted.length / 2)]!, rates };
}

const graph = process.argv[process.argv.indexOf("--graph") + 1] ?? "chain3";
const seconds = arg("seconds", 2);
const calls = arg("calls", 1000);
const initRuns = arg("init-runs", 3);
const warmupCalls = arg("warmup-calls", 3000);
const freeRuns = Math.max(1, arg("free-runs", 3));
const warmupSeconds = arg("warmup-seconds", 1);
const pi = process.argv.indexOf("--processes");
// Default options, but for the init deadline: 33 processes starting on a loaded 2-core machine can take longer than the default 20 s.
const options: ZmqRunnerOptions = { initTimeoutMs: 120_000, ...(pi >= 0 ? { processes: process.argv[pi + 1] as ZmqRunnerOptions["processes"] } : {}) };
const spec = specOf(graph);
const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

// LocalRunner: the in-process reference on the same graph.
const local = new LocalRunner(await loadTubeFromSpec(spec, { baseDir: benchDir }));
await local.init();
if (JSON.stringify(await local.process()) !== JSON.stringify(expected(graph, 0))) throw new Error(`${graph}: LocalRunner returned a wrong value`);
const localRun = await freeRunRate(local, seconds, freeRuns, warmupSeconds);
const { warm: localLat } = await latencies(local, calls, seconds, warmupCalls);
await local.deinit();

// ZmqRunner: init() timed `initRuns` times (each a fresh set of processes), the last one measured further.
const inits: number[] = [];
let zmq = await zmqRunner(spec, options);
for (let r = 0; r < initRuns; r++) {
  if (r > 0) zmq = await zmqRunner(spec, options);
  const t0 = performance.now();
  await zmq.init();
  inits.push((performance.now() - t0) / 1000);
  if (JSON.stringify(await zmq.process()) !== JSON.stringify(expected(graph, 0))) throw new Error(`${graph}: ZmqRunner returned a wrong value`);
  if (r < initRuns - 1) await zmq.deinit();
}
const processes = Object.keys(zmq.pids()).length;
const zmqRun = await freeRunRate(zmq, seconds, freeRuns, warmupSeconds);
const { warm: zmqLat, cold: zmqCold } = await latencies(zmq, calls, seconds, warmupCalls);
await zmq.deinit();

inits.sort((a, b) => a - b);
const zmqRate = zmqRun.rate;
const localRate = localRun.rate;
const nodes = Object.keys((spec as { nodes: object }).nodes).length - 1;
emit({
  bench: `scaling-${graph}`,
  value: Math.round(zmqRate),
  unit: "epochs/s",
  nodes,
  processes,
  local_epochs_per_s: Math.round(localRate),
  // Every timed free run's rate (the figures are their medians): how much one run moves.
  free_runs_epochs_per_s: zmqRun.rates.map((r) => Math.round(r)),
  local_free_runs_epochs_per_s: localRun.rates.map((r) => Math.round(r)),
  ratio_to_local: round(zmqRate / localRate),
  epochs_x_nodes: Math.round(zmqRate * nodes),
  p50_ms: round(percentile(zmqLat, 0.5)),
  p99_ms: round(percentile(zmqLat, 0.99)),
  // The warm-up's calls (right after the free-run): the tail of a process() path V8 is still compiling.
  cold_p99_ms: zmqCold.length > 0 ? round(percentile(zmqCold, 0.99)) : null,
  cold_calls: zmqCold.length,
  local_p50_ms: round(percentile(localLat, 0.5)),
  local_p99_ms: round(percentile(localLat, 0.99)),
  calls: zmqLat.length,
  init_s: round(inits[Math.floor(inits.length / 2)]!),
  init_runs_s: inits.map((t) => round(t)),
  ...(pi >= 0 ? { processes_option: process.argv[pi + 1] } : {}),
});
