/**
 * CPU per epoch of the driver and of each runner process during a free run:
 * the figure that judges a change to the runtime's per-node cost. CPU time
 * (utime + stime from /proc/PID/stat) moves far less with the machine's load
 * than epochs/s does, so A/B runs on a shared machine stay comparable.
 *
 *   npx tsx bench/node-cost.ts --graph chain100 [--seconds 3] [--repeats 3] [--processes packed|per-node] [--local]
 *
 * Prints one JSON line: per repeat, epochs/s and the driver's and the
 * runners' CPU ms per epoch; and their medians. `--local`: the same for
 * LocalRunner (all in this process, so `driver` is all of it), the figure the
 * runner process's own CPU per epoch compares with. Not part of `npm run bench`.
 */
import { readFileSync } from "node:fs";
import { arg, benchDir, chainSpec, fanOutSpec, zmqRunner } from "./lib.ts";
import { loadTubeFromSpec } from "../src/spec/load.ts";
import { LocalRunner } from "../src/runner/local.ts";
import type { Runner } from "../src/runner/runner.ts";
import type { ZmqRunnerOptions } from "../src/runner/zmq/zmq-runner.ts";

const TICK_MS = 10; // USER_HZ is 100 on Linux: /proc counts CPU in 10 ms ticks.

function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 14 and 15 (utime, stime), counted from the state field (3) after the command name.
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

const graph = process.argv[process.argv.indexOf("--graph") + 1] ?? "chain100";
const seconds = arg("seconds", 3);
const repeats = arg("repeats", 3);
const pi = process.argv.indexOf("--processes");
const m = /^(chain|fanout)(\d+)$/.exec(graph);
if (!m) throw new Error(`--graph ${graph}: expected chainN or fanoutK`);
const spec = m[1] === "chain" ? chainSpec(Number(m[2])) : fanOutSpec(Number(m[2]));
const options: ZmqRunnerOptions = { initTimeoutMs: 120_000, ...(pi >= 0 ? { processes: process.argv[pi + 1] as ZmqRunnerOptions["processes"] } : {}) };

const local = process.argv.includes("--local");
const zmq: Runner = local ? new LocalRunner(await loadTubeFromSpec(spec, { baseDir: benchDir })) : await zmqRunner(spec, options);
await zmq.init();
const pids = "pids" in zmq ? Object.values((zmq as { pids(): Record<string, number | undefined> }).pids()).filter((p): p is number => p !== undefined) : [];
// Warm-up: V8 tiers up the hot path of driver and runners before anything is timed.
await zmq.run(2000);
const runs: Array<{ epochs_per_s: number; driver_ms: number; runners_ms: number }> = [];
for (let r = 0; r < repeats; r++) {
  let epochs = 0;
  const listener = () => void epochs++;
  zmq.on("epoch", listener);
  const d0 = cpuMs(process.pid);
  const r0 = pids.reduce((s, p) => s + cpuMs(p), 0);
  const t0 = performance.now();
  await zmq.start();
  await new Promise((res) => setTimeout(res, seconds * 1000));
  await zmq.stop();
  const elapsed = (performance.now() - t0) / 1000;
  const d1 = cpuMs(process.pid);
  const r1 = pids.reduce((s, p) => s + cpuMs(p), 0);
  zmq.off("epoch", listener);
  runs.push({ epochs_per_s: Math.round(epochs / elapsed), driver_ms: round((d1 - d0) / epochs), runners_ms: round((r1 - r0) / epochs) });
}
await zmq.deinit();

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
process.stdout.write(
  `${JSON.stringify({
    bench: `node-cost-${graph}${local ? "-local" : ""}`,
    processes: pids.length,
    epochs_per_s: median(runs.map((x) => x.epochs_per_s)),
    driver_cpu_ms_per_epoch: median(runs.map((x) => x.driver_ms)),
    runners_cpu_ms_per_epoch: median(runs.map((x) => x.runners_ms)),
    runs,
  })}\n`,
);
