/**
 * What the dashboard costs a run: chain3 free-run (one process per node) in
 * rounds of three ways: no dashboard; a dashboard nobody watches; a dashboard
 * open in headless Chromium (live, one update a second). Chromium stays up on
 * a blank page through the rounds without a viewer, so its start is not
 * counted.
 *
 * Made to hold on a machine whose speed drifts: one warm-up round is thrown
 * away; the order of the three ways turns every round (none/unwatched/watched,
 * then unwatched/watched/none, ...) so a slow stretch falls on each way alike;
 * each round gives paired ratios (watched / none of the same round), and the
 * result is the median of those ratios, beside the ratio of the medians.
 *
 * Epochs/s on a loaded machine says little; CPU time does: per way, the CPU
 * each part used per 1000 epochs (medians of the rounds): the driver (this
 * process: command node, feed, dashboard server), the runner processes, and
 * Chromium's processes, from /proc.
 * `npx tsx bench/dashboard.bench.ts [--seconds 3] [--rounds 9]`
 */
import { readdirSync, readFileSync } from "node:fs";
import { startDashboard, type Dashboard } from "../src/bridge/dashboard/start.ts";
import { openBrowser } from "../test/helpers/browser.ts";
import { arg, chain3Spec, emit, freeRunFor, zmqRunner } from "./lib.ts";

const seconds = arg("seconds", 3);
const rounds = arg("rounds", 9);
// Heartbeats of 1 s (default 250 ms) and a command timeout of 15 s (default 3): on a shared, loaded machine a starved process must not be declared dead mid-bench.
const runner = await zmqRunner(chain3Spec(), { heartbeatMs: 1000, commandTimeoutMs: 15_000 });
await runner.init();
await runner.run(2000);
const browser = await openBrowser();
const modes = ["none", "unwatched", "watched"] as const;
type Mode = (typeof modes)[number];
const rates: Record<Mode, number[]> = { none: [], unwatched: [], watched: [] };
type Cpu = { driver: number; runners: number; browser: number };
const cpuPerK: Record<Mode, Cpu[]> = { none: [], unwatched: [], watched: [] };
/** Chromium's CPU per second of wall time: a cost per second, whatever the epoch rate. */
const browserMsPerS: Record<Mode, number[]> = { none: [], unwatched: [], watched: [] };

/** CPU seconds (user + system) and name of every process under `root`, by pid, from /proc (clock ticks of 1/100 s). */
function cpuOfDescendants(root: number): Map<number, { cpu: number; name: string }> {
  const parent = new Map<number, number>();
  const cpu = new Map<number, { cpu: number; name: string }>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      // Fields after the command name (which may hold spaces) start at ")".
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parent.set(Number(name), Number(f[1]));
      cpu.set(Number(name), { cpu: (Number(f[11]) + Number(f[12])) / 100, name: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")) });
    } catch {
      // The process ended while we read.
    }
  }
  const under = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === root) return true;
    return false;
  };
  return new Map([...cpu].filter(([pid]) => under(pid)));
}

function cpuNow(): Cpu {
  const runnerPids = new Set(Object.values(runner.status().nodes).map((n) => n.pid).filter((p): p is number => p !== null && p !== process.pid));
  const u = process.cpuUsage();
  const out: Cpu = { driver: (u.user + u.system) / 1e6, runners: 0, browser: 0 };
  for (const [pid, p] of cpuOfDescendants(process.pid)) {
    if (runnerPids.has(pid)) out.runners += p.cpu;
    else if (/^chrom/i.test(p.name)) out.browser += p.cpu;
  }
  return out;
}

let lastCpu: Cpu = { driver: 0, runners: 0, browser: 0 };
async function round(mode: Mode): Promise<number> {
  let dash: Dashboard | undefined;
  try {
    if (mode !== "none") dash = await startDashboard({ runs: [{ id: "run", label: "chain3", kind: "zmq", tube: runner.tube, runner }] });
    if (mode === "watched") {
      await browser.page.goto(dash!.url);
      await browser.page.waitForSelector("[data-node=b][data-status=ready]", { timeout: 30_000 });
    }
    const before = cpuNow();
    const t0 = performance.now();
    const { epochs, elapsed } = await freeRunFor(runner, seconds, 500);
    const after = cpuNow();
    browserMsPerS[mode].push(((after.browser - before.browser) * 1000) / ((performance.now() - t0) / 1000));
    if (mode === "watched" && dash!.viewerCount !== 1) throw new Error("the browser was not watching during the round");
    // Warm-up (500 epochs) is inside the CPU interval but not in `epochs`: counted in.
    const k = (epochs + 500) / 1000;
    lastCpu = { driver: (after.driver - before.driver) / k, runners: (after.runners - before.runners) / k, browser: (after.browser - before.browser) / k };
    return epochs / elapsed;
  } finally {
    await browser.page.goto("about:blank");
    await dash?.close();
  }
}

try {
  // Warm-up: the first round of each way pays for compiled code, caches and Chromium's first page.
  for (const mode of modes) await round(mode);
  for (let r = 0; r < rounds; r++) {
    const order = modes.map((_, i) => modes[(i + r) % modes.length]!);
    for (const mode of order) {
      rates[mode].push(await round(mode));
      cpuPerK[mode].push(lastCpu);
    }
  }
} finally {
  await browser.close();
  await runner.deinit();
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const paired = (mode: Mode) => median(rates[mode].map((x, i) => x / rates.none[i]!));
const none = median(rates.none);
const r3 = (x: number) => Math.round(x * 1000) / 1000;
emit({
  bench: "dashboard",
  value: r3(paired("watched")),
  unit: "ratio",
  what: "chain3 free-run epochs/s with the dashboard open in Chromium over without a dashboard: median of the per-round ratios",
  none_epochs_per_s: Math.round(none),
  unwatched_epochs_per_s: Math.round(median(rates.unwatched)),
  watched_epochs_per_s: Math.round(median(rates.watched)),
  unwatched_ratio: r3(paired("unwatched")),
  watched_ratio_of_medians: r3(median(rates.watched) / none),
  unwatched_ratio_of_medians: r3(median(rates.unwatched) / none),
  cpu_ms_per_1000_epochs: Object.fromEntries(
    modes.map((m) => [m, Object.fromEntries((["driver", "runners", "browser"] as const).map((part) => [part, Math.round(median(cpuPerK[m].map((c) => c[part])) * 10000) / 10]))]),
  ),
  browser_cpu_ms_per_s: Object.fromEntries(modes.map((m) => [m, Math.round(median(browserMsPerS[m].slice(1)))])),
  load_average: (await import("node:os")).loadavg().map((x) => Math.round(x * 10) / 10),
  rounds: Object.fromEntries(modes.map((m) => [m, rates[m].map(Math.round)])),
  seconds,
});
