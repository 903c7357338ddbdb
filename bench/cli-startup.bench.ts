/**
 * How long the `tubular` command takes, as a user waits for it: the whole
 * process, from spawn to exit, of `tubular --version` and of
 * `tubular run examples/basic.yaml --runner local --epochs 1` (median of
 * `--runs`, 10 by default). Runs `bin/tubular.js` of this checkout, so the
 * compiled code in dist/ (`npm run build`; `npm run bench` builds first).
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { arg, benchDir, emit } from "./lib.ts";

const root = path.resolve(benchDir, "..");
const bin = path.join(root, "bin/tubular.js");
const runs = arg("runs", 10);

function median(sorted: number[]): number {
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Seconds per run of `node bin/tubular.js ...args`, sorted; fails if the command fails. */
function time(args: string[], expect: string): number[] {
  const times: number[] = [];
  // One unmeasured run first: the disk cache, not the command, decides the first start.
  for (let i = 0; i <= runs; i++) {
    const t0 = performance.now();
    const out = spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
    const seconds = (performance.now() - t0) / 1000;
    if (out.status !== 0 || !out.stdout.includes(expect)) {
      throw new Error(`tubular ${args.join(" ")} exited ${out.status ?? out.signal}: ${out.stdout}${out.stderr}`);
    }
    if (i > 0) times.push(seconds);
  }
  return times.sort((a, b) => a - b);
}

if (!existsSync(path.join(root, "dist"))) {
  process.stderr.write("cli-startup: dist/ is missing; run `npm run build` first\n");
}
const round = (s: number) => Math.round(s * 1000) / 1000;
const version = time(["--version"], ".");
emit({ bench: "cli-startup-version", value: round(median(version)), unit: "s", runs: version.map(round), target: 0.3 });
const run = time(["run", "examples/basic.yaml", "--runner", "local", "--epochs", "1"], "0");
emit({ bench: "cli-startup-run-local", value: round(median(run)), unit: "s", runs: run.map(round), target: 0.6 });
