/**
 * Where init() time goes: a measurement script, not part of `npm run bench`.
 *
 *   npx tsx bench/startup-trace.ts [--runs 5] [--graph chain10]
 *
 * Prints one JSON line per measure, medians of `--runs`:
 * - node_boot_ms: `node -e 0`, spawn to exit (the floor of any process);
 * - runner_load_ms: the runner bundle run without arguments: it loads every
 *   module (zeromq's addon, zod, pino, msgpackr, the node library), prints its
 *   usage and exits, so this is boot + module load;
 * - for ZmqRunner.init() on the graph, per-node and packed: the total, the
 *   time until the last runner logged "runner up" (spawned, loaded, sockets
 *   open: from its own log timestamp) and the rest, the readiness handshake
 *   (identify, probes, announce, init, ready).
 */
import { spawn } from "node:child_process";
import { Writable } from "node:stream";
import { runnerEntry } from "../src/runner/zmq/runner-entry.ts";
import type { ZmqRunnerOptions } from "../src/runner/zmq/zmq-runner.ts";
import { arg, chainSpec, emit, fanOutSpec, zmqRunner } from "./lib.ts";

const runs = arg("runs", 5);
const gi = process.argv.indexOf("--graph");
const graph = gi >= 0 ? process.argv[gi + 1]! : "chain10";
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number) => Math.round(x * 10) / 10;

function timeProcess(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { stdio: "ignore" });
    child.once("error", reject);
    child.once("exit", () => resolve(performance.now() - t0));
  });
}

const boot: number[] = [];
const load: number[] = [];
const entry = await runnerEntry();
for (let i = 0; i < runs; i++) {
  boot.push(await timeProcess(["-e", "0"]));
  load.push(await timeProcess([...entry.args]));
}
emit({ bench: "startup-node-boot", value: round(median(boot)), unit: "ms", runs: boot.map(round) });
emit({ bench: "startup-runner-load", value: round(median(load)), unit: "ms", runs: load.map(round), bundled: entry.bundled });

const m = /^(chain|fanout)(\d+)$/.exec(graph);
if (!m) throw new Error(`--graph ${graph}: expected chainN or fanoutK`);
const spec = m[1] === "chain" ? chainSpec(Number(m[2])) : fanOutSpec(Number(m[2]));
for (const processes of ["per-node", "packed"] as const) {
  const totals: number[] = [];
  const up: number[] = [];
  let count = 0;
  for (let r = 0; r < runs; r++) {
    let lastUp = 0;
    // The runners' debug logs carry their own wall-clock timestamps.
    const output = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split("\n")) {
          const json = line.slice(line.indexOf("{"));
          if (!json.includes('"runner up"')) continue;
          lastUp = Math.max(lastUp, (JSON.parse(json) as { time: number }).time);
        }
        done();
      },
    });
    const options: ZmqRunnerOptions = { processes, output, logLevel: "debug", initTimeoutMs: 120_000 };
    const runner = await zmqRunner(spec, options);
    const wall0 = Date.now();
    const t0 = performance.now();
    await runner.init();
    totals.push(performance.now() - t0);
    up.push(lastUp - wall0);
    count = Object.keys(runner.pids()).length;
    await runner.deinit();
  }
  emit({ bench: `startup-init-${graph}-${processes}`, value: round(median(totals)), unit: "ms", processes: count, runners_up_ms: round(median(up)), handshake_ms: round(median(totals) - median(up)), runs: totals.map(round) });
}
