/**
 * Runs every benchmark, one after the other, each in its own process, and
 * prints their JSON lines, then a summary line with the ratios to the raw
 * ZeroMQ figure measured in the same run. `npm run bench`;
 * `npm run bench -- chain3-freerun init-10` runs only those.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { benchDir, type BenchResult } from "./lib.ts";

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
  // chain3 free-run without a dashboard, with one nobody watches, and with one open in headless Chromium.
  ["dashboard", []],
  ["registry", []],
];
const only = process.argv.slice(2).filter((a) => !a.startsWith("-"));
const results: BenchResult[] = [];
for (const [name, args] of all) {
  if (only.length > 0 && !only.includes(name) && !(name === "chain3-freerun" && args.length > 0 && only.includes("chain3-grouped"))) continue;
  const out = spawnSync(process.execPath, ["--import", "tsx", path.join(benchDir, `${name}.bench.ts`), ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], timeout: 180_000 });
  for (const line of out.stdout.split("\n")) {
    if (!line.startsWith("{")) continue;
    process.stdout.write(`${line}\n`);
    results.push(JSON.parse(line) as BenchResult);
  }
  if (out.status !== 0) process.stderr.write(`bench ${name} exited with ${out.status ?? out.signal}\n`);
}
const raw = results.find((r) => r.bench === "raw-pubsub")?.value;
if (raw) {
  const ratios: Record<string, number> = {};
  for (const r of results) if (r.unit === "epochs/s") ratios[r.bench] = Math.round((r.value / raw) * 1000) / 1000;
  process.stdout.write(`${JSON.stringify({ bench: "summary", raw_pubsub_msg_per_s: raw, ratio_to_raw: ratios, date: new Date().toISOString() })}\n`);
}
