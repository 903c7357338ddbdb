/**
 * One suite, both stores: what the registry relies on from a store.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { planClaim } from "../../src/bridge/registry/placement.ts";
import { applyEvent, created, lost } from "../../src/bridge/registry/state-machine.ts";
import type { RunRecord, WorkerRecord } from "../../src/store/records.ts";
import type { Store } from "../../src/store/store.ts";
import { STORE_KINDS, type StoreTarget } from "../integration/registry-stores.ts";

const noConstraints = { cpu: 0, ram_mb: 0, vram_mb: 0, tags: [] as string[] };

function newRun(id: string, priority = 5, at = Date.now()) {
  return created({ id, definition: null, image: "g.yaml", graph: { nodes: {} }, inputs: { epochs: 1 }, priority, constraints: noConstraints, max_attempts: 2, event_delivery: null, webhook_url: null, created_at: at });
}

function worker(id: string, at = Date.now()): WorkerRecord {
  return { worker_id: id, resources: { cpu_cores: 4, ram_mb: 1000, gpus: [] }, tags: [], running_ops: [], status: "online", last_heartbeat: at, protocol: "http" };
}

for (const k of STORE_KINDS) {
  describe.skipIf(k.skip)(`store - contract (${k.title})`, () => {
    let target: StoreTarget;
    let store: Store;
    beforeEach(async () => {
      target = await k.target();
      store = await target.open();
    });
    afterEach(async () => {
      await store?.close();
      await target?.cleanup();
    });

    it("definitions: a new version adds, the same version replaces, no version is the latest", async () => {
      const base = { description: "", image: "a.yaml", graph: {}, inputs: {}, constraints: noConstraints, retry_policy: { max_attempts: 3 }, priority: 5, event_delivery: null };
      await store.putDefinition({ ...base, name: "d", version: "1", created_at: 1000 });
      await store.putDefinition({ ...base, name: "d", version: "2", created_at: 2000 });
      await store.putDefinition({ ...base, name: "d", version: "1", description: "replaced", created_at: 1500 });
      expect((await store.listDefinitions()).map((d) => d.version).sort()).toEqual(["1", "2"]);
      expect((await store.getDefinition("d", "1"))?.description).toBe("replaced");
      expect((await store.getDefinition("d"))?.version).toBe("2");
      expect(await store.getDefinition("nope")).toBeUndefined();
    });

    it("runs: created with a numbered event and an attempt; a refused change writes nothing; events after N", async () => {
      await store.createRun(newRun("r1"));
      const started = await store.updateRun("r1", (r) => applyEvent({ ...r, state: "ASSIGNED", worker_id: "w" }, { type: "STARTED", msg: "go" }, Date.now()));
      expect(started?.state).toBe("RUNNING");
      await expect(store.updateRun("r1", (r) => applyEvent(r, { type: "STARTED", msg: "again" }, Date.now()))).rejects.toMatchObject({ status: 400 });
      const events = await store.listEvents("r1");
      expect(events.map((e) => [e.id, e.type, e.state])).toEqual([
        [0, "CREATED", "PENDING"],
        [1, "STARTED", "RUNNING"],
      ]);
      expect((await store.listEvents("r1", 0)).map((e) => e.id)).toEqual([1]);
      expect(await store.updateRun("missing", (r) => ({ run: r, events: [] }))).toBeUndefined();
      expect((await store.listAttempts("r1"))[0]).toMatchObject({ number: 1, state: "RUNNING" });
    });

    it("a resend with the same key stores the event once", async () => {
      await store.createRun(newRun("r2"));
      const info = (r: RunRecord) => applyEvent(r, { type: "INFO", msg: "hello" }, Date.now());
      await store.updateRun("r2", info, { key: "k1" });
      await store.updateRun("r2", info, { key: "k1" });
      await store.updateRun("r2", info, { key: "k2" });
      expect((await store.listEvents("r2")).filter((e) => e.type === "INFO")).toHaveLength(2);
    });

    it("claims: concurrent claims of many workers never hand one run to two", async () => {
      const n = 40;
      for (let i = 0; i < n; i++) await store.createRun(newRun(`c${i}`, i % 3));
      for (let w = 0; w < 4; w++) await store.putWorker(worker(`w${w}`));
      const got: string[] = [];
      await Promise.all(
        [0, 1, 2, 3].map(async (w) => {
          for (;;) {
            const now = Date.now();
            const runs = await store.claim(`w${w}`, now, (wk, held, pending) => planClaim(wk, held, pending, 3, now));
            if (!runs?.length) return;
            got.push(...runs.map((r) => r.id));
          }
        }),
      );
      expect(got).toHaveLength(n);
      expect(new Set(got).size).toBe(n);
      expect(await store.claim("unknown", Date.now(), () => [])).toBeUndefined();
    });

    it("claims go in priority order, then oldest first", async () => {
      const t = Date.now();
      await store.createRun(newRun("low", 1, t));
      await store.createRun(newRun("high-old", 9, t + 1));
      await store.createRun(newRun("high-new", 9, t + 2));
      await store.putWorker(worker("w"));
      const now = Date.now();
      const runs = await store.claim("w", now, (wk, held, pending) => planClaim(wk, held, pending, 3, now));
      expect(runs?.map((r) => r.id)).toEqual(["high-old", "high-new", "low"]);
    });

    it("a claim skips runs that do not fit, however deep in the queue the fitting ones are", async () => {
      // 50 runs this worker cannot take (more cores than it has) ahead of 10 it can: the queue is
      // read (SQLite) or locked (PostgreSQL) a page at a time, and the planner must still reach them.
      const t = Date.now() - 10_000;
      for (let i = 0; i < 50; i++) await store.createRun(created({ ...newRun(`big-${i}`, 5, t + i).run, constraints: { ...noConstraints, cpu: 64 } }));
      for (let i = 0; i < 10; i++) await store.createRun(newRun(`small-${i}`, 5, t + 100 + i));
      await store.putWorker(worker("w"));
      const now = Date.now();
      const runs = await store.claim("w", now, (wk, held, pending) => planClaim(wk, held, pending, 2, now));
      expect(runs?.map((r) => r.id)).toEqual(["small-0", "small-1"]);
      expect((await store.listRuns({ states: ["ASSIGNED"] })).map((r) => r.id).sort()).toEqual(["small-0", "small-1"]);
      // The runs left behind are untouched and claimable by a worker that fits them.
      await store.putWorker({ ...worker("big"), resources: { cpu_cores: 64, ram_mb: 1000, gpus: [] } });
      const big = await store.claim("big", now, (wk, held, pending) => planClaim(wk, held, pending, 1, now));
      expect(big?.map((r) => r.id)).toEqual(["big-0"]);
    });

    it("writes asked for together: one refused changes nothing, the others are all stored and readable once answered", async () => {
      await store.createRun(newRun("taken"));
      // Asked for in one go (one group commit for SQLite): the duplicate id fails alone.
      const results = await Promise.allSettled([...Array.from({ length: 8 }, (_, i) => store.createRun(newRun(`ok-${i}`))), store.createRun(newRun("taken", 1))]);
      expect(results.slice(0, 8).every((r) => r.status === "fulfilled")).toBe(true);
      expect(results[8]!.status).toBe("rejected");
      expect((await store.getRun("taken"))?.priority).toBe(5);
      expect(await store.listEvents("taken")).toHaveLength(1);
      // What was answered is committed: a second connection to the same database reads it.
      const other = await target.open();
      try {
        expect((await other.listRuns({ limit: 100 })).map((r) => r.id).sort()).toEqual(["ok-0", "ok-1", "ok-2", "ok-3", "ok-4", "ok-5", "ok-6", "ok-7", "taken"]);
      } finally {
        await other.close();
      }
    });

    it("a worker past the timeout goes offline and its runs are failed and retried", async () => {
      await store.createRun(newRun("x"));
      await store.putWorker(worker("old", Date.now() - 60_000));
      await store.putWorker(worker("fresh"));
      const now = Date.now();
      await store.claim("old", Date.now() - 60_000, (wk, held, pending) => planClaim(wk, held, pending, 1, now));
      expect(await store.expireWorkers(Date.now() - 30_000, (r) => lost(r, Date.now()))).toEqual(["old"]);
      expect((await store.getWorker("old"))?.status).toBe("offline");
      expect((await store.getWorker("fresh"))?.status).toBe("online");
      const run = await store.getRun("x");
      expect(run).toMatchObject({ state: "PENDING", attempt: 2, worker_id: null });
      expect((await store.listAttempts("x")).map((a) => [a.number, a.state, a.error_message])).toEqual([
        [1, "FAILED", "worker lost"],
        [2, "PENDING", null],
      ]);
    });

    it("webhook cursor and lease: one owner at a time, the cursor never moves back", async () => {
      await store.createRun({ ...newRun("h"), run: { ...newRun("h").run, webhook_url: "http://127.0.0.1:1/hook" } });
      await store.updateRun("h", (r) => applyEvent(r, { type: "INFO", msg: "1" }, Date.now()));
      expect((await store.webhookBacklog(10)).map((r) => r.id)).toEqual(["h"]);
      const now = Date.now();
      expect(await store.leaseWebhook("h", "a", now, 10_000)).toBe(true);
      expect(await store.leaseWebhook("h", "b", now, 10_000)).toBe(false);
      expect(await store.leaseWebhook("h", "b", now + 20_000, 10_000)).toBe(true);
      await store.advanceWebhook("h", 1);
      await store.advanceWebhook("h", 0);
      expect((await store.getRun("h"))?.webhook_cursor).toBe(1);
      expect(await store.webhookBacklog(10)).toEqual([]);
    });

    it("reopening keeps everything, and does not migrate twice", async () => {
      await store.createRun(newRun("keep"));
      await store.close();
      store = await target.open();
      expect((await store.getRun("keep"))?.state).toBe("PENDING");
    });
  });
}
