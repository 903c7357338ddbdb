/**
 * The SQL of one event append on the registry's schema alone (better-sqlite3,
 * WAL, synchronous=NORMAL, as the store opens it): 1,000 finished runs and
 * 32 RUNNING ones with a few events each, then 400 transactions of one
 * INSERT into run_events and one UPDATE of runs per RUNNING run. Variants,
 * letters combined (`kws`): k the resend-key index partial, w the webhook
 * index partial, s an UPDATE of only updated_at and next_event_id, r
 * run_events WITHOUT ROWID; `v0` the schema of migration 1; a second
 * argument `nockpt` turns automatic checkpoints off. Prints CPU per append.
 *
 *   npx tsx bench/registry-sql.ts v0|k|kw|kws|r|rk|rkws [nockpt]
 */
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { MIGRATIONS } from "../src/store/migrations.ts";
const variant = process.argv[2] ?? "v0";
const dir = mkdtempSync(path.join(os.tmpdir(), "tubular-bench-sql-"));
const db = new Database(path.join(dir, "x.db"));
db.pragma("journal_mode = WAL"); db.pragma("synchronous = NORMAL"); if (process.argv[3] === "nockpt") db.pragma("wal_autocheckpoint = 0");
db.exec(MIGRATIONS[0]!.sqlite);
if (variant.includes("k")) db.exec("DROP INDEX run_events_key; CREATE UNIQUE INDEX run_events_key ON run_events (run_id, client_key) WHERE client_key IS NOT NULL;");
if (variant.includes("w")) db.exec("DROP INDEX runs_webhook; CREATE INDEX runs_webhook ON runs (seq) WHERE webhook_url IS NOT NULL;");
if (variant.includes("r")) db.exec("DROP TABLE run_events; CREATE TABLE run_events (run_id TEXT NOT NULL, id INTEGER NOT NULL, type TEXT NOT NULL, t REAL NOT NULL, msg TEXT NOT NULL, state TEXT NOT NULL, payload TEXT, client_key TEXT, PRIMARY KEY (run_id, id)) WITHOUT ROWID; CREATE UNIQUE INDEX run_events_key ON run_events (run_id, client_key)" + (variant.includes("k") ? " WHERE client_key IS NOT NULL" : "") + ";");
const graph = JSON.stringify({ noob_id: "trivial", nodes: { a: { type: "count" }, return: { type: "return", depends: "a.index" } } });
const ins = db.prepare("INSERT INTO runs (id, image, graph, inputs, priority, state, attempt, max_attempts, progress, constraints, created_at, updated_at, next_event_id, webhook_cursor) VALUES (?, '', ?, '{}', 5, ?, 1, 3, 0, '{}', ?, ?, ?, -1)");
const ev = db.prepare("INSERT INTO run_events (run_id, id, type, t, msg, state, payload, client_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
const ids: string[] = [];
db.transaction(() => { for (let i = 0; i < 1032; i++) { const id = crypto.randomUUID(); ins.run(id, graph, i < 1000 ? "COMPLETED" : "RUNNING", Date.now(), Date.now(), 4); for (let e = 0; e < 4; e++) ev.run(id, e, "X", Date.now(), '"x"', "RUNNING", null, i < 1000 && e > 1 ? `1:k${e}` : null); if (i >= 1000) ids.push(id); } })();
const full = db.prepare("UPDATE runs SET outputs = ?, priority = ?, state = ?, attempt = ?, max_attempts = ?, worker_id = ?, progress = ?, error_message = ?, updated_at = ?, next_event_id = ? WHERE id = ?");
const small = db.prepare("UPDATE runs SET updated_at = ?, next_event_id = ? WHERE id = ?");
const next = new Map(ids.map((id) => [id, 4]));
const ROUNDS = 400;
const c0 = process.cpuUsage();
for (let r = 0; r < ROUNDS; r++) {
  db.transaction(() => {
    for (const id of ids) {
      const n = next.get(id)!;
      ev.run(id, n, "INFO", Date.now(), JSON.stringify(`event ${r}`), "RUNNING", null, null);
      if (variant.includes("s")) small.run(Date.now(), n + 1, id); else full.run(null, 5, "RUNNING", 1, 3, "w", 0, null, Date.now(), n + 1, id);
      next.set(id, n + 1);
    }
  }).immediate();
}
const c = process.cpuUsage(c0); const n = ROUNDS * ids.length;
console.log(variant.padEnd(5), JSON.stringify({ cpu_us: +((c.user + c.system) / n).toFixed(1), user: +(c.user / n).toFixed(1), sys: +(c.system / n).toFixed(1) }));
db.close(); rmSync(dir, { recursive: true, force: true });
