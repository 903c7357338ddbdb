/** chain3 free-run, one process per node: epochs/s. `--grouped` puts the three nodes in one process. */
import { arg, chain3Spec, emit, zmqRunner } from "./lib.ts";

const grouped = process.argv.includes("--grouped");
const seconds = arg("seconds", 5);
const runner = await zmqRunner(chain3Spec(grouped ? "chain" : undefined));
await runner.init();
await runner.run(2000); // warm-up
let epochs = 0;
runner.on("epoch", () => epochs++);
const t0 = performance.now();
await runner.start();
await new Promise((r) => setTimeout(r, seconds * 1000));
await runner.stop();
const elapsed = (performance.now() - t0) / 1000;
await runner.deinit();
emit({ bench: grouped ? "chain3-grouped" : "chain3-freerun", value: Math.round(epochs / elapsed), unit: "epochs/s", epochs, seconds: Math.round(elapsed * 100) / 100, processes: grouped ? 1 : 3 });
