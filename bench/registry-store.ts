/**
 * The SQLite store alone, without HTTP: 32 RUNNING runs, then `--rounds`
 * (400) rounds of one INFO append per run, the 32 asked for together (one
 * group commit each, as the events phase of bench/registry.bench.ts makes
 * them). Prints CPU (user, system) and wall time per append, in us.
 *
 *   npx tsx bench/registry-store.ts [--rounds 400]
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { SqliteStore } from "../src/store/sqlite.ts";
import { applyEvent, created, assigned } from "../src/bridge/registry/state-machine.ts";
const at = process.argv.indexOf("--rounds");
const ROUNDS = at >= 0 ? Number(process.argv[at + 1]) : 400;
const dir = await mkdtemp(path.join(os.tmpdir(), "tubular-bench-store-"));
const store = SqliteStore.open(path.join(dir, "s.db"));
const graph = { noob_id: "trivial", nodes: { a: { type: "count" }, return: { type: "return", depends: "a.index" } } };
const ids: string[] = [];
for (let i = 0; i < 32; i++) {
  const id = crypto.randomUUID();
  const r = await store.createRun(created({ id, definition: null, image: "", graph, inputs: {}, priority: 5, constraints: { cpu: 0, ram_mb: 0, vram_mb: 0, tags: [] }, max_attempts: 3, event_delivery: null, created_at: Date.now(), webhook_url: null }));
  await store.updateRun(id, (run) => assigned(run, "w", Date.now()));
  await store.updateRun(id, (run) => applyEvent(run, { type: "STARTED", msg: "" }, Date.now()));
  ids.push(id);
}
const c0 = process.cpuUsage(); const t0 = performance.now();
for (let r = 0; r < ROUNDS; r++) await Promise.all(ids.map((id) => store.updateRun(id, (run) => applyEvent(run, { type: "INFO", msg: `event ${r}` }, Date.now()))));
const c = process.cpuUsage(c0); const n = ROUNDS * 32;
console.log(JSON.stringify({ cpu_us_per_event: +((c.user + c.system) / n).toFixed(1), user: +(c.user / n).toFixed(1), sys: +(c.system / n).toFixed(1), wall_us: +((performance.now() - t0) * 1000 / n).toFixed(1) }));
await store.close(); await rm(dir, { recursive: true, force: true });
