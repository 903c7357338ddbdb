/** chain3 free-run, one process per node (processes: "per-node"; the default now packs the chain into one): epochs/s. `--grouped` puts the three nodes in one process. */
import { arg, chain3Spec, emit, freeRunFor, zmqRunner } from "./lib.ts";

const grouped = process.argv.includes("--grouped");
const seconds = arg("seconds", 5);
const runner = await zmqRunner(chain3Spec(grouped ? "chain" : undefined), { processes: "per-node" });
await runner.init();
const { epochs, elapsed } = await freeRunFor(runner, seconds, 2000);
await runner.deinit();
emit({ bench: grouped ? "chain3-grouped" : "chain3-freerun", value: Math.round(epochs / elapsed), unit: "epochs/s", epochs, seconds: Math.round(elapsed * 100) / 100, processes: grouped ? 1 : 3 });
