import { loadTubeFromSpec } from "./src/spec/load.ts";
import { ZmqRunner } from "./src/runner/zmq/zmq-runner.ts";
const tube = await loadTubeFromSpec({ noob_id: "c", nodes: { a: { type: "count" }, b: { type: "multiply", depends: [{ left: "a.index" }], params: { right: 2 } }, return: { type: "return", depends: "b.value" } } }, { baseDir: process.cwd() });
const r = new ZmqRunner(tube, { initTimeoutMs: 8000, logLevel: "debug" });
const t = Date.now();
try { await r.init(); console.log("init ms", Date.now() - t, await r.process(), await r.process()); } catch (e) { console.log(String(e)); }
console.log(JSON.stringify(r.stats().drops));
await r.deinit();
