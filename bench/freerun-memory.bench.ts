/** Free-run into a node that sleeps 5 ms, for `--seconds` (30): driver and runner RSS at start and end, MB. */
import { arg, emit, rssMb, zmqRunner } from "./lib.ts";

const seconds = arg("seconds", 30);
const runner = await zmqRunner({
  noob_id: "slow-sink",
  nodes: {
    a: { type: "count" },
    b: { type: "sleep", depends: [{ value: "a.index" }], params: { ms: 5 } },
    return: { type: "return", depends: "b.value" },
  },
}, { processes: "per-node" });
await runner.init();
let epochs = 0;
runner.on("epoch", () => epochs++);
const pids = Object.values(runner.pids()) as number[];
const snapshot = () => ({ driver: rssMb(process.pid), runners: pids.map(rssMb) });
await runner.start();
await new Promise((r) => setTimeout(r, 2000));
const start = snapshot();
await new Promise((r) => setTimeout(r, seconds * 1000));
const end = snapshot();
await runner.stop();
await runner.deinit();
const growth = Math.max(end.driver - start.driver, ...end.runners.map((r, i) => r - start.runners[i]!));
emit({ bench: "freerun-memory", value: Math.round(growth * 10) / 10, unit: "MB (largest RSS growth)", start, end, epochs, seconds });
