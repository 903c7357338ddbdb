/** A 2-node graph passing a 1 MiB Buffer per epoch between two processes: MB/s. */
import { arg, emit, freeRunFor, zmqRunner } from "./lib.ts";

const seconds = arg("seconds", 5);
const size = 1 << 20;
const runner = await zmqRunner(
  {
    noob_id: "bytes",
    nodes: {
      a: { type: "./nodes.ts#bytes", params: { size } },
      b: { type: "./nodes.ts#length", depends: [{ value: "a.value" }] },
      return: { type: "return", depends: "b.value" },
    },
  },
  { maxInFlight: 16, processes: "per-node" },
);
await runner.init();
let wrong = 0;
const { epochs, elapsed } = await freeRunFor(runner, seconds, 20, (r) => {
  if (r.value !== size) wrong++;
});
await runner.deinit();
emit({ bench: "bytes-1mib", value: Math.round((epochs * size) / 1e6 / elapsed), unit: "MB/s", epochs, wrong_values: wrong, seconds: Math.round(elapsed * 100) / 100 });
