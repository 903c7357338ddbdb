/**
 * What the dashboard costs a run: chain3 free-run (one process per node) in
 * rounds that alternate three ways: no dashboard; a dashboard nobody watches;
 * a dashboard open in headless Chromium (live, one update a second). Medians
 * of the rounds, and their ratios to no dashboard. Chromium stays up on a
 * blank page through the rounds without a viewer, so its start is not counted.
 * `npx tsx bench/dashboard.bench.ts [--seconds 4] [--rounds 4]`
 */
import { startDashboard, type Dashboard } from "../src/bridge/dashboard/start.ts";
import { openBrowser } from "../test/helpers/browser.ts";
import { arg, chain3Spec, emit, freeRunFor, zmqRunner } from "./lib.ts";

const seconds = arg("seconds", 4);
const rounds = arg("rounds", 4);
// Heartbeats of 1 s (default 250 ms) and a command timeout of 15 s (default 3): on a shared, loaded machine a starved process must not be declared dead mid-bench.
const runner = await zmqRunner(chain3Spec(), { heartbeatMs: 1000, commandTimeoutMs: 15_000 });
await runner.init();
await runner.run(2000);
const browser = await openBrowser();
const modes = ["none", "unwatched", "watched"] as const;
const rates: Record<(typeof modes)[number], number[]> = { none: [], unwatched: [], watched: [] };
try {
  for (let round = 0; round < rounds; round++) {
    for (const mode of modes) {
      let dash: Dashboard | undefined;
      if (mode !== "none") dash = await startDashboard({ runs: [{ id: "run", label: "chain3", kind: "zmq", tube: runner.tube, runner }] });
      if (mode === "watched") {
        await browser.page.goto(dash!.url);
        await browser.page.waitForSelector("[data-node=b][data-status=ready]", { timeout: 30_000 });
      }
      const { epochs, elapsed } = await freeRunFor(runner, seconds, 500);
      if (mode === "watched" && dash!.viewerCount !== 1) throw new Error("the browser was not watching during the round");
      rates[mode].push(epochs / elapsed);
      await browser.page.goto("about:blank");
      await dash?.close();
    }
  }
} finally {
  await browser.close();
  await runner.deinit();
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const none = median(rates.none);
const r3 = (x: number) => Math.round(x * 1000) / 1000;
emit({
  bench: "dashboard",
  value: r3(median(rates.watched) / none),
  unit: "ratio",
  what: "chain3 free-run epochs/s with the dashboard open in Chromium, over without a dashboard (medians of the rounds)",
  none_epochs_per_s: Math.round(none),
  unwatched_epochs_per_s: Math.round(median(rates.unwatched)),
  watched_epochs_per_s: Math.round(median(rates.watched)),
  unwatched_ratio: r3(median(rates.unwatched) / none),
  rounds: Object.fromEntries(modes.map((m) => [m, rates[m].map(Math.round)])),
  seconds,
});
