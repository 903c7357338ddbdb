/**
 * Runs every benchmark, one after the other, each in its own process, and
 * prints their JSON lines, then a summary line with the ratios to the raw
 * ZeroMQ figure measured in the same run. `npm run bench`;
 * `npm run bench -- chain3-freerun init-10` runs only those.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { benchDir, type BenchResult } from "./lib.ts";
import { runVerdicts, verdictLine, type Verdict } from "./targets.ts";

const all: Array<[string, string[]]> = [
  ["raw-pubsub", []],
  ["chain3-freerun", []],
  ["chain3-freerun", ["--grouped"]],
  ["chain3-process-latency", []],
  ["chain3-tcp-curve", []],
  ["bytes-1mib", []],
  ["init-10", []],
  ["freerun-memory", []],
  ["bridge-rpc", []],
  // The same over ZmqRunner: every session has its own runner, 3 processes each, so 10 clients here.
  ["bridge-rpc", ["--runner", "zmq", "--clients", "10"]],
  // The `tubular` command's whole process (compiled dist/; `npm run bench` builds first).
  ["cli-startup", []],
  ["registry", []],

  // chain3 free-run without a dashboard, with one nobody watches, and with one open in headless Chromium.
  ["dashboard", []],
  // Graphs of growing size, default options beside LocalRunner (bench/scaling.bench.ts); init() median of 5 where the issue sets a target.
  ["scaling", ["--graph", "chain3"]],
  ["scaling", ["--graph", "chain10", "--init-runs", "5"]],
  ["scaling", ["--graph", "chain30"]],
  ["scaling", ["--graph", "chain100"]],
  ["scaling", ["--graph", "fanout1"]],
  ["scaling", ["--graph", "fanout8"]],
  ["scaling", ["--graph", "fanout32", "--init-runs", "5"]],
  // The same, one process per node (noob's placement), for the ratio in one run.
  ["scaling", ["--graph", "chain3", "--processes", "per-node", "--init-runs", "5"]],
  ["scaling", ["--graph", "chain10", "--processes", "per-node", "--init-runs", "5"]],
  ["scaling", ["--graph", "fanout32", "--processes", "per-node", "--init-runs", "1"]],
];
const only = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const results: BenchResult[] = [];
const failed: string[] = [];
for (const [name, args] of all) {
  if (only.length > 0 && !only.includes(name) && !(name === "chain3-freerun" && args.length > 0 && only.includes("chain3-grouped"))) continue;
  const out = spawnSync(process.execPath, ["--import", "tsx", path.join(benchDir, `${name}.bench.ts`), ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], timeout: 180_000 });
  for (const line of out.stdout.split("\n")) {
    if (!line.startsWith("{")) continue;
    const result = JSON.parse(line) as BenchResult;
    // Runs of one bench with other options stay apart in the summary.
    if (typeof result.processes_option === "string") result.bench = `${result.bench}-${result.processes_option}`;
    process.stdout.write(`${JSON.stringify(result)}\n`);
    results.push(result);
  }
  if (out.status !== 0) {
    process.stderr.write(`bench ${name} exited with ${out.status ?? out.signal}\n`);
    failed.push(`${name} ${args.join(" ")}`.trim());
  }
}
const raw = results.find((r) => r.bench === "raw-pubsub")?.value;
if (raw) {
  const ratios: Record<string, number> = {};
  for (const r of results) if (r.unit === "epochs/s") ratios[r.bench] = Math.round((r.value / raw) * 1000) / 1000;
  // Linear cost: epochs/s x nodes from chain 3 to chain 100 (the target: within a factor of 2).
  const exn = (g: string) => results.find((r) => r.bench === `scaling-${g}`)?.epochs_x_nodes as number | undefined;
  const c3 = exn("chain3");
  const c100 = exn("chain100");
  const scaling = c3 && c100 ? { linear_cost_chain3_to_chain100: Math.round((Math.max(c3, c100) / Math.min(c3, c100)) * 100) / 100 } : {};
  process.stdout.write(`${JSON.stringify({ bench: "summary", raw_pubsub_msg_per_s: raw, ratio_to_raw: ratios, ...scaling, date: new Date().toISOString() })}\n`);
}

// Every target next to its figure, met or not (bench/targets.ts), then the benches that gave no figure.
const verdicts: Verdict[] = [];
for (const r of results) for (const t of (r.targets as Array<Omit<Verdict, "bench">> | undefined) ?? []) verdicts.push({ bench: r.bench, ...t });
verdicts.push(...runVerdicts(results));
process.stdout.write(`\ntargets: ${verdicts.filter((v) => v.met).length} of ${verdicts.length} met\n`);
for (const v of verdicts) process.stdout.write(`  ${verdictLine(v)}\n`);
for (const f of failed) process.stdout.write(`  ${f}: failed, no figure: NOT MET\n`);
