/**
 * Shared pieces of the benchmarks: each bench is a script that prints one JSON
 * line `{ "bench", "value", "unit", ... }`, runnable alone with
 * `npx tsx bench/NAME.bench.ts`; bench/run.ts runs them all in one command.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadTubeFromSpec } from "../src/spec/load.ts";
import { ZmqRunner, type ZmqRunnerOptions } from "../src/runner/zmq/zmq-runner.ts";
import type { EpochResult, Runner } from "../src/runner/runner.ts";
import { verdictLine, verdictsOf } from "./targets.ts";

export const benchDir = path.dirname(fileURLToPath(import.meta.url));

export interface BenchResult {
  bench: string;
  value: number;
  unit: string;
  [key: string]: unknown;
}

/** Prints the bench's JSON line, with its targets judged (bench/targets.ts), and one verdict line per target on stderr. */
export function emit(result: BenchResult): void {
  const verdicts = verdictsOf(result);
  const line = verdicts.length > 0 ? { ...result, targets: verdicts.map(({ figure, value, target, met }) => ({ figure, value, target, met })) } : result;
  process.stdout.write(`${JSON.stringify(line)}\n`);
  for (const v of verdicts) process.stderr.write(`${verdictLine(v)}\n`);
}

/** count -> multiply -> add -> return; one process per node unless grouped. */
export function chain3Spec(group?: string): Record<string, unknown> {
  const g = group ? { group } : {};
  return {
    noob_id: "chain3",
    nodes: {
      a: { type: "count", ...g },
      b: { type: "multiply", depends: [{ left: "a.index" }], params: { right: 2 }, ...g },
      c: { type: "add", depends: [{ left: "b.value" }], params: { right: 1 }, ...g },
      return: { type: "return", depends: "c.value" },
    },
  };
}

/** count -> add -> ... -> return: `n` nodes before the return, joined one-to-one. */
export function chainSpec(n: number): Record<string, unknown> {
  const nodes: Record<string, unknown> = { n0: { type: "count" } };
  for (let i = 1; i < n; i++) nodes[`n${i}`] = { type: "add", depends: [{ left: `n${i - 1}.${i === 1 ? "index" : "value"}` }], params: { right: 1 } };
  nodes.return = { type: "return", depends: `n${n - 1}.value` };
  return { noob_id: `chain${n}`, nodes };
}

/** count -> `k` adds reading it -> return of the `k` values. */
export function fanOutSpec(k: number): Record<string, unknown> {
  const nodes: Record<string, unknown> = { src: { type: "count" } };
  for (let i = 0; i < k; i++) nodes[`f${i}`] = { type: "add", depends: [{ left: "src.index" }], params: { right: i } };
  nodes.return = { type: "return", depends: Array.from({ length: k }, (_, i) => `f${i}.value`) };
  return { noob_id: `fanout${k}`, nodes };
}

const quiet = { write: () => true } as unknown as NodeJS.WritableStream;

export async function zmqRunner(spec: Record<string, unknown>, options: ZmqRunnerOptions = {}): Promise<ZmqRunner> {
  const tube = await loadTubeFromSpec(spec, { baseDir: benchDir });
  return new ZmqRunner(tube, { output: quiet, ...options });
}

/** Resident set size of a process in MB, from /proc. */
export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round((kb / 1024) * 10) / 10;
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/**
 * Free-runs `runner` for `seconds` after a warm-up of `warmup` epochs: the
 * epochs that ended, and the seconds it took (start to stop). `onEpoch` sees
 * each result of the measured part.
 */
export async function freeRunFor(runner: Runner, seconds: number, warmup: number, onEpoch: (r: EpochResult) => void = () => {}): Promise<{ epochs: number; elapsed: number }> {
  if (warmup > 0) await runner.run(warmup);
  let epochs = 0;
  const listener = (r: EpochResult) => {
    epochs++;
    onEpoch(r);
  };
  runner.on("epoch", listener);
  const t0 = performance.now();
  await runner.start();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  await runner.stop();
  const elapsed = (performance.now() - t0) / 1000;
  runner.off("epoch", listener);
  return { epochs, elapsed };
}

export function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
