/**
 * The SQLite store's WAL checkpoints run on their own thread
 * (src/store/sqlite-checkpointer.ts): what is committed reaches the database
 * file without the store's own connection checkpointing (its automatic
 * checkpoint waits for BACKSTOP_PAGES), and closing the store leaves no
 * WAL behind and nothing running.
 */
import { existsSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { applyEvent, assigned, created } from "../../src/bridge/registry/state-machine.ts";
import { SqliteStore } from "../../src/store/sqlite.ts";
import { until } from "../helpers/until.ts";

const noConstraints = { cpu: 0, ram_mb: 0, vram_mb: 0, tags: [] as string[] };
const newRun = (id: string) => created({ id, definition: null, image: "g.yaml", graph: { nodes: {} }, inputs: { epochs: 1 }, priority: 5, constraints: noConstraints, max_attempts: 2, event_delivery: null, webhook_url: null, created_at: Date.now() });

describe("store - sqlite checkpoints on their own thread", () => {
  let dir: string;
  let file: string;
  let store: SqliteStore | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "tubular-checkpoint-"));
    file = path.join(dir, "registry.db");
  });
  afterEach(async () => {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("committed pages reach the database file while the store's own connection never checkpoints", async () => {
    store = SqliteStore.open(file);
    const before = statSync(file).size;
    // About a hundred pages of WAL: far below the store's own automatic checkpoint.
    for (let r = 0; r < 20; r++) {
      await store.createRun(newRun(`r${r}`));
      await store.updateRun(`r${r}`, (run) => assigned(run, "w1", Date.now()));
      await store.updateRun(`r${r}`, (run) => applyEvent(run, { type: "STARTED", msg: "" }, Date.now()));
      await Promise.all(Array.from({ length: 20 }, (_, i) => store!.updateRun(`r${r}`, (run) => applyEvent(run, { type: "INFO", msg: "x".repeat(400) + i }, Date.now()))));
    }
    expect(statSync(`${file}-wal`).size).toBeGreaterThan(0);
    await until(() => statSync(file).size > before, 5000, "the database file to grow by a checkpoint");

    // Read by a connection of its own: the database file plus what is left in the WAL is everything acknowledged.
    const reader = new Database(file, { readonly: true });
    try {
      expect((reader.prepare("SELECT count(*) AS n FROM run_events WHERE type = 'INFO'").get() as { n: number }).n).toBe(400);
    } finally {
      reader.close();
    }
  });

  it("closing the store ends the thread's connection first, so the last close removes the WAL", async () => {
    store = SqliteStore.open(file);
    await store.createRun(newRun("r1"));
    expect(existsSync(`${file}-wal`)).toBe(true);
    await store.close();
    store = undefined;
    // SQLite deletes the WAL only when the last connection to the file closes.
    expect(existsSync(`${file}-wal`)).toBe(false);
    const again = SqliteStore.open(file);
    try {
      expect((await again.getRun("r1"))?.state).toBe("PENDING");
    } finally {
      await again.close();
    }
  });
});
