/**
 * The thread side of a GraphThread (graph-thread.ts): runs one claimed run's
 * graph at a time on a LocalRunner, epoch after epoch, and posts what happens.
 * It may hold its thread as long as its nodes compute: the agent's event loop
 * (heartbeats, claims, a cancel) runs on the main thread, and a cancel ends
 * this thread.
 */
import { parentPort } from "node:worker_threads";
import { LocalRunner } from "../runner/local.ts";
import { loadTubeFromSpec } from "../spec/load.ts";
import type { FromGraphThread, ToGraphThread } from "./graph-thread.ts";
import { jsonSafe } from "./json-safe.ts";

const port = parentPort;
if (!port) throw new Error("graph-thread-worker runs as a worker thread");

function post(msg: FromGraphThread): void {
  port!.postMessage(msg);
}

async function run(job: Extract<ToGraphThread, { kind: "run" }>): Promise<void> {
  const { op, modulesDir, epochs, processInputs, tubeInputs } = job;
  const tube = await loadTubeFromSpec(op.graph, { baseDir: modulesDir, input: tubeInputs, file: `<run ${op.run_id}>` });
  const runner = new LocalRunner(tube);
  runner.on("metric", (m) => {
    // A node may log anything; what cannot cross to the main thread crosses as JSON.
    try {
      post({ kind: "metric", name: m.name, value: m.value, step: m.step });
    } catch {
      post({ kind: "metric", name: m.name, value: jsonSafe(m.value), step: m.step });
    }
  });
  await runner.init();
  try {
    post({ kind: "started" });
    for (let i = 0; i < epochs; i++) {
      const asked = performance.now();
      const value = jsonSafe(await runner.process(processInputs[i]));
      post({ kind: "epoch", value, ms: performance.now() - asked });
    }
  } finally {
    await runner.deinit();
  }
}

port.on("message", (msg: ToGraphThread) => {
  if (msg.kind !== "run") return;
  run(msg).then(
    () => post({ kind: "done" }),
    (err: unknown) => post({ kind: "failed", message: err instanceof Error ? err.message : String(err) }),
  );
});

// Loaded: the first run does not wait for the modules above.
post({ kind: "ready" });
