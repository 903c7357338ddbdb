/**
 * The SQLite store's run cache (src/store/run-cache.ts) never shows a run as
 * it is not: a change made through another connection to the file is seen,
 * and a write that was rolled back leaves no trace.
 */
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { applyEvent, assigned, created } from "../../src/bridge/registry/state-machine.ts";
import { SqliteStore } from "../../src/store/sqlite.ts";

const noConstraints = { cpu: 0, ram_mb: 0, vram_mb: 0, tags: [] as string[] };
const newRun = (id: string) => created({ id, definition: null, image: "g.yaml", graph: { nodes: {} }, inputs: { epochs: 1 }, priority: 5, constraints: noConstraints, max_attempts: 2, event_delivery: null, webhook_url: null, created_at: Date.now() });
const info = (msg: string) => (r: Parameters<typeof applyEvent>[0]) => applyEvent(r, { type: "INFO", msg }, Date.now());

describe("store - sqlite run cache", () => {
  let dir: string;
  let file: string;
  let store: SqliteStore;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "tubular-run-cache-"));
    file = path.join(dir, "registry.db");
    store = SqliteStore.open(file);
  });
  afterEach(async () => {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("a run changed through another store on the same file is seen right, and its events keep counting", async () => {
    await store.createRun(newRun("r1"));
    await store.updateRun("r1", (r) => assigned(r, "w1", Date.now()));
    await store.updateRun("r1", (r) => applyEvent(r, { type: "STARTED", msg: "" }, Date.now()));
    await store.updateRun("r1", info("ours")); // cached now: RUNNING, next event 4

    const other = SqliteStore.open(file);
    try {
      expect((await other.updateRun("r1", info("theirs")))?.next_event_id).toBe(5);
      await other.updateRun("r1", (r) => applyEvent(r, { type: "CANCELLED", msg: "stop" }, Date.now()));
    } finally {
      await other.close();
    }

    const seen = await store.getRun("r1");
    expect(seen).toMatchObject({ state: "CANCELLED", next_event_id: 6 });
    // The state machine works on the state the other store left: a cancelled run cannot start.
    await expect(store.updateRun("r1", (r) => applyEvent(r, { type: "STARTED", msg: "" }, Date.now()))).rejects.toMatchObject({ status: 400 });
    const after = await store.updateRun("r1", info("ours again"));
    expect(after?.next_event_id).toBe(7);
    expect((await store.listEvents("r1")).map((e) => [e.id, e.msg])).toEqual([
      [0, "created"],
      [1, "w1"],
      [2, ""],
      [3, "ours"],
      [4, "theirs"],
      [5, "stop"],
      [6, "ours again"],
    ]);
  });

  it("a run changed by plain SQL from another connection is read again", async () => {
    await store.createRun(newRun("r1"));
    expect((await store.getRun("r1"))?.priority).toBe(5);
    const raw = new Database(file);
    try {
      raw.prepare("UPDATE runs SET priority = 9 WHERE id = 'r1'").run();
    } finally {
      raw.close();
    }
    expect((await store.getRun("r1"))?.priority).toBe(9);
    expect((await store.updateRun("r1", info("x")))?.priority).toBe(9);
  });

  it("writes of a group rolled back because one was refused are cached only as committed", async () => {
    for (const id of ["a", "b"]) {
      await store.createRun(newRun(id));
      await store.updateRun(id, (r) => assigned(r, "w1", Date.now()));
    }
    // Together: a's two events, then b's refused one (PROGRESS needs RUNNING), then a's third.
    const results = await Promise.allSettled([
      store.updateRun("a", info("1")),
      store.updateRun("a", info("2")),
      store.updateRun("b", (r) => applyEvent(r, { type: "PROGRESS", msg: 10 }, Date.now())),
      store.updateRun("a", info("3")),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "rejected", "fulfilled"]);
    expect((await store.getRun("a"))?.next_event_id).toBe(5);
    expect((await store.getRun("b"))?.next_event_id).toBe(2);
    // What the cache says is what the file says: a fresh store reads the same.
    const fresh = SqliteStore.open(file);
    try {
      for (const id of ["a", "b"]) expect(await fresh.getRun(id)).toEqual({ ...(await store.getRun(id)) });
    } finally {
      await fresh.close();
    }
    expect((await store.updateRun("a", info("4")))?.next_event_id).toBe(6);
    expect((await store.listEvents("a")).map((e) => e.id)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it("the webhook cursor moved by advanceWebhook shows in the run", async () => {
    await store.createRun(newRun("r1"));
    await store.updateRun("r1", info("x"));
    expect((await store.getRun("r1"))?.webhook_cursor).toBe(-1);
    await store.advanceWebhook("r1", 1);
    expect((await store.getRun("r1"))?.webhook_cursor).toBe(1);
  });
});
