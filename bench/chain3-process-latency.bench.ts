/**
 * process() round trips on chain3, one process per node: p50 and p99 in ms,
 * beside the same four hops through plain zeromq.js relays, measured in the same run.
 */
import { arg, chain3Spec, emit, percentile, zmqRunner } from "./lib.ts";
import { rawRelayLatency } from "./raw-relay.ts";

const n = arg("n", 5000);
const runner = await zmqRunner(chain3Spec(), { processes: "per-node" });
await runner.init();
for (let i = 0; i < 500; i++) await runner.process();
const lat: number[] = [];
for (let i = 0; i < n; i++) {
  const t = performance.now();
  await runner.process();
  lat.push(performance.now() - t);
}
await runner.deinit();
lat.sort((a, b) => a - b);
const raw = await rawRelayLatency(n);
const round = (x: number) => Math.round(x * 1000) / 1000;
emit({
  bench: "chain3-process-latency",
  value: round(percentile(lat, 0.5)),
  unit: "ms (p50)",
  p50_ms: round(percentile(lat, 0.5)),
  p90_ms: round(percentile(lat, 0.9)),
  p99_ms: round(percentile(lat, 0.99)),
  raw_relay_p50_ms: round(raw.p50),
  raw_relay_p99_ms: round(raw.p99),
  calls: n,
});
