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
 * `npx tsx bench/dashboard.bench.ts [--seconds 3] [--rounds 9]`
 */
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

async function round(mode: Mode): Promise<number> {
  let dash: Dashboard | undefined;
  try {
    if (mode !== "none") dash = await startDashboard({ runs: [{ id: "run", label: "chain3", kind: "zmq", tube: runner.tube, runner }] });
    if (mode === "watched") {
      await browser.page.goto(dash!.url);
      await browser.page.waitForSelector("[data-node=b][data-status=ready]", { timeout: 30_000 });
    }
    const { epochs, elapsed } = await freeRunFor(runner, seconds, 500);
    if (mode === "watched" && dash!.viewerCount !== 1) throw new Error("the browser was not watching during the round");
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
    for (const mode of order) rates[mode].push(await round(mode));
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
  rounds: Object.fromEntries(modes.map((m) => [m, rates[m].map(Math.round)])),
  seconds,
});
