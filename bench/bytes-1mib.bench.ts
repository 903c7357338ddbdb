/** A 2-node graph passing a 1 MiB Buffer per epoch between two processes: MB/s. */
import { arg, emit, zmqRunner } from "./lib.ts";

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
  { maxInFlight: 16 },
);
await runner.init();
let epochs = 0;
let wrong = 0;
runner.on("epoch", (r) => {
  epochs++;
  if (r.value !== size) wrong++;
});
await runner.run(20);
epochs = 0;
const t0 = performance.now();
await runner.start();
await new Promise((r) => setTimeout(r, seconds * 1000));
await runner.stop();
const elapsed = (performance.now() - t0) / 1000;
await runner.deinit();
emit({ bench: "bytes-1mib", value: Math.round((epochs * size) / 1e6 / elapsed), unit: "MB/s", epochs, wrong_values: wrong, seconds: Math.round(elapsed * 100) / 100 });
