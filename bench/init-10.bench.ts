/** init() of a 10-node chain, one process per node: seconds (median of `--runs`). */
import { arg, emit, zmqRunner } from "./lib.ts";

const runs = arg("runs", 3);
const nodes: Record<string, unknown> = { n0: { type: "count" } };
for (let i = 1; i < 10; i++) nodes[`n${i}`] = { type: "add", depends: [{ left: `n${i - 1}.${i === 1 ? "index" : "value"}` }], params: { right: 1 } };
nodes.return = { type: "return", depends: "n9.value" };
const times: number[] = [];
for (let r = 0; r < runs; r++) {
  const runner = await zmqRunner({ noob_id: "init10", nodes }, { processes: "per-node" });
  const t0 = performance.now();
  await runner.init();
  times.push((performance.now() - t0) / 1000);
  if ((await runner.process()) !== 9) throw new Error("wrong value after init");
  await runner.deinit();
}
times.sort((a, b) => a - b);
emit({ bench: "init-10", value: Math.round(times[Math.floor(times.length / 2)]! * 1000) / 1000, unit: "s", runs: times.map((t) => Math.round(t * 1000) / 1000), processes: 10 });
