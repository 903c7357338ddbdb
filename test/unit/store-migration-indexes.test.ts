/**
 * Migration 3 (partial indexes for resend keys and the webhook backlog) on a
 * SQLite file written before it: what was stored still counts, keys still
 * make resends no-ops, and the webhook backlog still finds undelivered runs.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { applyEvent } from "../../src/bridge/registry/state-machine.ts";
import { MIGRATIONS } from "../../src/store/migrations.ts";
import { SqliteStore } from "../../src/store/sqlite.ts";

describe("store - migration 3 on an older SQLite file", () => {
  let dir: string;
  let file: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "tubular-migration-"));
    file = path.join(dir, "registry.db");
    // The file as version 2 left it: one RUNNING run with a webhook, two events, the second sent with a key.
    const db = new Database(file);
    db.exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at REAL NOT NULL)");
    for (const m of MIGRATIONS.filter((m) => m.version <= 2)) {
      db.exec(m.sqlite);
      db.prepare("INSERT INTO schema_migrations VALUES (?, ?, ?)").run(m.version, m.description, Date.now());
    }
    db.prepare(
      "INSERT INTO runs (id, image, graph, inputs, priority, state, attempt, max_attempts, worker_id, progress, constraints, created_at, updated_at, next_event_id, webhook_url, webhook_cursor) VALUES ('r1', '', '{}', '{}', 5, 'RUNNING', 1, 3, 'w1', 0, '{\"cpu\":0,\"ram_mb\":0,\"vram_mb\":0,\"tags\":[]}', 1, 1, 2, 'http://127.0.0.1:9/hook', -1)",
    ).run();
    db.prepare("INSERT INTO run_events (run_id, id, type, t, msg, state, payload, client_key) VALUES ('r1', 0, 'CREATED', 1, '\"created\"', 'PENDING', NULL, NULL)").run();
    db.prepare("INSERT INTO run_events (run_id, id, type, t, msg, state, payload, client_key) VALUES ('r1', 1, 'STARTED', 1, '\"go\"', 'RUNNING', NULL, '1:k1')").run();
    db.close();
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("keeps what was stored and the guarantees the old indexes gave", async () => {
    const store = SqliteStore.open(file);
    try {
      const db = new Database(file, { readonly: true });
      try {
        expect(db.prepare("SELECT MAX(version) AS v FROM schema_migrations").get()).toEqual({ v: 3 });
        expect(String((db.prepare("SELECT sql FROM sqlite_master WHERE name = 'run_events_key'").get() as { sql: string }).sql)).toMatch(/WHERE client_key IS NOT NULL/);
      } finally {
        db.close();
      }
      // A resend of the keyed event is a no-op; a new key is stored once, and its resend too.
      const info = (r: Parameters<typeof applyEvent>[0]) => applyEvent(r, { type: "INFO", msg: "x" }, Date.now());
      expect((await store.updateRun("r1", info, { key: "1:k1" }))?.next_event_id).toBe(2);
      expect((await store.updateRun("r1", info, { key: "1:k2" }))?.next_event_id).toBe(3);
      expect((await store.updateRun("r1", info, { key: "1:k2" }))?.next_event_id).toBe(3);
      // Events without a key are as many as posted.
      await store.updateRun("r1", info);
      await store.updateRun("r1", info);
      expect((await store.listEvents("r1")).map((e) => e.id)).toEqual([0, 1, 2, 3, 4]);
      // The webhook backlog finds the run until its cursor reaches the last event.
      expect((await store.webhookBacklog(10)).map((r) => r.id)).toEqual(["r1"]);
      await store.advanceWebhook("r1", 4);
      expect(await store.webhookBacklog(10)).toEqual([]);
      await store.updateRun("r1", info);
      expect((await store.webhookBacklog(10)).map((r) => [r.id, r.webhook_cursor, r.next_event_id])).toEqual([["r1", 4, 6]]);
    } finally {
      await store.close();
    }
  });
});
