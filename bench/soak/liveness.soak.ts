/**
 * Liveness soak (outside `npm test`): runs that would have a runner falsely
 * declared dead if liveness depended on nodes yielding. `npm run soak`, or
 * `npx tsx bench/soak/liveness.soak.ts [--busy 60] [--free 30]`:
 *
 * - busy: one node computes `--busy` seconds without yielding, in one process() call;
 * - 10ms: free-run of count -> a node computing 10 ms per epoch -> return, for `--free` seconds;
 * - chain100: free-run of a 100-node chain packed into 2 processes (groups), for `--free` seconds.
 *
 * Each prints one JSON line: epochs, rate, the longest gap between two epoch
 * results, runner deaths and wrong values (both must be 0). Exits 1 if any
 * run had a death or a wrong value.
 */
import path from "node:path";
import { loadTubeFromSpec } from "../../src/spec/load.ts";
import { ZmqRunner } from "../../src/runner/zmq/zmq-runner.ts";
import type { EpochResult } from "../../src/runner/runner.ts";
import { arg, benchDir, emit } from "../lib.ts";

const root = path.resolve(benchDir, "..");
const SPIN = "./test/fixtures/nodes/busy.ts#spin";
const quiet = { write: () => true } as unknown as NodeJS.WritableStream;
const busySeconds = arg("busy", 60);
const freeSeconds = arg("free", 30);

async function runner(spec: Record<string, unknown>, processes: "per-node" | "packed" = "packed"): Promise<ZmqRunner> {
  const r = new ZmqRunner(await loadTubeFromSpec(spec, { baseDir: root }), { output: quiet, processes, initTimeoutMs: 120_000 });
  await r.init();
  return r;
}

let failed = false;

async function busy(): Promise<void> {
  const r = await runner({ noob_id: "busy", nodes: { a: { type: "count" }, b: { type: SPIN, depends: [{ value: "a.index" }], params: { ms: busySeconds * 1000 } }, return: { type: "return", depends: "b.value" } } }, "per-node");
  const errors: string[] = [];
  r.on("error", (e) => errors.push((e as Error).message));
  const t0 = performance.now();
  let value: unknown;
  try {
    value = await r.process();
  } catch (err) {
    errors.push((err as Error).message);
  }
  const seconds = (performance.now() - t0) / 1000;
  await r.deinit();
  const ok = errors.length === 0 && value === 0;
  failed ||= !ok;
  emit({ bench: "soak-busy-node", value: Math.round(seconds * 10) / 10, unit: "s", runner_deaths: errors.length, wrong_values: value === 0 ? 0 : 1, errors: errors.slice(0, 3) });
}

async function freeRun(name: string, spec: Record<string, unknown>, expected: (epoch: number) => unknown): Promise<void> {
  const r = await runner(spec);
  const errors: string[] = [];
  let epochs = 0;
  let wrong = 0;
  let last = performance.now();
  let maxGapMs = 0;
  r.on("error", (e) => errors.push((e as Error).message));
  r.on("epoch", (e: EpochResult) => {
    const now = performance.now();
    maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
    epochs++;
    if (e.value !== expected(e.epoch)) wrong++;
  });
  const t0 = performance.now();
  last = t0;
  await r.start();
  await new Promise((res) => setTimeout(res, freeSeconds * 1000));
  await r.stop().catch((err: unknown) => errors.push((err as Error).message));
  const seconds = (performance.now() - t0) / 1000;
  const processes = new Set(Object.values(r.pids())).size;
  await r.deinit();
  failed ||= errors.length > 0 || wrong > 0;
  emit({ bench: name, value: Math.round(epochs / seconds), unit: "epochs/s", epochs, seconds: Math.round(seconds * 10) / 10, processes, max_gap_ms: Math.round(maxGapMs), runner_deaths: errors.length, wrong_values: wrong, errors: [...new Set(errors)].slice(0, 3) });
}

function chain100(): Record<string, unknown> {
  const nodes: Record<string, unknown> = { n0: { type: "count", group: "g1" } };
  for (let i = 1; i < 100; i++) nodes[`n${i}`] = { type: "add", depends: [{ left: `n${i - 1}.${i === 1 ? "index" : "value"}` }], params: { right: 1 }, group: i < 50 ? "g1" : "g2" };
  nodes.return = { type: "return", depends: "n99.value" };
  return { noob_id: "chain100", nodes };
}

const only = process.argv.slice(2).filter((a, i, all) => !a.startsWith("--") && !all[i - 1]?.startsWith("--"));
if (only.length === 0 || only.includes("busy")) await busy();
if (only.length === 0 || only.includes("10ms")) {
  await freeRun("soak-freerun-10ms-node", { noob_id: "spin10", nodes: { a: { type: "count" }, b: { type: SPIN, depends: [{ value: "a.index" }], params: { ms: 10 } }, return: { type: "return", depends: "b.value" } } }, (e) => 2 * e);
}
if (only.length === 0 || only.includes("chain100")) await freeRun("soak-freerun-chain100-2proc", chain100(), (e) => e + 99);
process.exit(failed ? 1 : 0);
