/**
 * One suite, both stores: what run tracking and the WebSocket worker
 * registry rely on from the store (migration 2).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { uniqueRunName } from "../../src/bridge/tracking/names.ts";
import type { Store } from "../../src/store/store.ts";
import type { AgentWorkerRecord, ProjectRecord } from "../../src/store/tracking-records.ts";
import { STORE_KINDS, type StoreTarget } from "./registry-stores.ts";

function project(uuid: string, slug: string, namespace = "ns"): ProjectRecord {
  return { uuid, namespace, slug, display_name: slug, visibility: "RESTRICTED", created_at: 1000, last_run_at: null };
}

function newRun(uuid: string, projectUuid: string, name: string, owner: { host: string | null; pid: number | null } = { host: null, pid: null }) {
  return { uuid, project_uuid: projectUuid, pickName: (taken: ReadonlySet<string>) => uniqueRunName(name, taken), description: "", status: "RUNNING" as const, created_at: 2000, updated_at: 2000, owner_host: owner.host, owner_pid: owner.pid, job_run_id: null };
}

for (const k of STORE_KINDS) {
  describe.skipIf(k.skip)(`tracking - store (${k.title})`, () => {
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

    it("projects: created once per namespace and slug, found, listed, deleted with their runs and metrics", async () => {
      const t = store.tracking;
      const p = await t.createProject(project("p1", "demo"));
      expect(p.uuid).toBe("p1");
      expect((await t.createProject(project("p2", "demo"))).uuid).toBe("p1");
      await t.createProject(project("p3", "demo", "other"));
      expect((await t.listProjects("ns")).map((x) => x.uuid)).toEqual(["p1"]);
      expect(await t.getProject("ns", "nope")).toBeUndefined();
      await t.createTrackedRun(newRun("r1", "p1", "a"));
      await t.addMetrics("r1", [{ name: "loss", value: 1, timestamp: 1 }]);
      expect(await t.deleteProject("ns", "demo")).toBe(true);
      expect(await t.deleteProject("ns", "demo")).toBe(false);
      expect(await t.getTrackedRun("r1")).toBeUndefined();
      expect(await t.listMetrics("r1")).toEqual([]);
    });

    it("runs: names de-duplicated inside the project (_1, _2), last_run_at kept, status patched", async () => {
      const t = store.tracking;
      await t.createProject(project("p1", "demo"));
      await t.createProject(project("p2", "other"));
      const names = [];
      for (const [i, pu] of [["a", "p1"], ["b", "p1"], ["c", "p1"], ["d", "p2"]] as const) names.push((await t.createTrackedRun(newRun(i, pu, "exp"))).name);
      expect(names).toEqual(["exp", "exp_1", "exp_2", "exp"]);
      expect((await t.getProjectByUuid("p1"))?.last_run_at).toBe(2000);
      expect((await t.listTrackedRuns({ projectUuid: "p1" })).map((r) => r.uuid)).toEqual(["c", "b", "a"]);
      expect((await t.listTrackedRuns({ name: "exp_1" })).map((r) => r.uuid)).toEqual(["b"]);
      const done = await t.updateTrackedRun("a", { status: "COMPLETED" }, 3000);
      expect(done).toMatchObject({ status: "COMPLETED", updated_at: 3000, name: "exp" });
      expect(await t.updateTrackedRun("nope", { status: "CRASHED" }, 3000)).toBeUndefined();
    });

    it("runs created at once in one project all get distinct names", async () => {
      const t = store.tracking;
      await t.createProject(project("p1", "demo"));
      const runs = await Promise.all(Array.from({ length: 12 }, (_, i) => t.createTrackedRun(newRun(`r${i}`, "p1", "same"))));
      expect(new Set(runs.map((r) => r.name)).size).toBe(12);
    });

    it("metrics: steps auto-computed per name when missing, values any JSON", async () => {
      const t = store.tracking;
      await t.createProject(project("p1", "demo"));
      await t.createTrackedRun(newRun("r", "p1", "x"));
      expect(await t.addMetrics("r", [{ name: "loss", value: 0.5, timestamp: 1 }, { name: "loss", value: 0.25, timestamp: 2 }, { name: "acc", value: { top1: 0.9 }, timestamp: 3 }, { name: "loss", value: 0.1, step: 10, timestamp: 4 }])).toBe(true);
      expect(await t.addMetrics("missing", [{ name: "loss", value: 1, timestamp: 1 }])).toBe(false);
      expect((await t.listMetrics("r")).map((m) => [m.name, m.value, m.step])).toEqual([["loss", 0.5, 0], ["loss", 0.25, 1], ["acc", { top1: 0.9 }, 0], ["loss", 0.1, 10]]);
      // A reader that has the first rows asks only for the rest, in the order they were logged.
      expect((await t.listMetrics("r", 2)).map((m) => [m.name, m.step])).toEqual([["acc", 0], ["loss", 10]]);
      expect(await t.listMetrics("r", 4)).toEqual([]);
    });

    it("a run left RUNNING by a process that is gone becomes FAILED; a live one's does not", async () => {
      const t = store.tracking;
      await t.createProject(project("p1", "demo"));
      await t.createTrackedRun(newRun("dead", "p1", "x", { host: "h", pid: 111 }));
      await t.createTrackedRun(newRun("live", "p1", "y", { host: "h", pid: 222 }));
      await t.createTrackedRun(newRun("elsewhere", "p1", "z", { host: "other", pid: 111 }));
      await t.createTrackedRun(newRun("client", "p1", "w"));
      const failed = await t.failOrphanedRuns("h", (pid) => pid === 222, 5000);
      expect(failed.map((r) => r.uuid)).toEqual(["dead"]);
      const status = async (u: string) => (await t.getTrackedRun(u))?.status;
      expect([await status("dead"), await status("live"), await status("elsewhere"), await status("client")]).toEqual(["FAILED", "RUNNING", "RUNNING", "RUNNING"]);
    });

    it("agent workers: upserted, read back, listed", async () => {
      const t = store.tracking;
      const w: AgentWorkerRecord = { worker_id: "w1", agent_name: "a", namespace: "default", version: "1.0.0", capabilities: ["room"], status: "idle", load: 0, job_count: 0, load_threshold: 0.75, max_processes: 4, connected: true, registered_at: 10, updated_at: 10 };
      expect(await t.putAgentWorker(w)).toEqual(w);
      expect(await t.putAgentWorker({ ...w, status: "offline", connected: false, load: 0.5, registered_at: 99, updated_at: 20 })).toEqual({ ...w, status: "offline", connected: false, load: 0.5, updated_at: 20 });
      expect((await t.listAgentWorkers()).map((x) => x.worker_id)).toEqual(["w1"]);
      expect(await t.getAgentWorker("nope")).toBeUndefined();
    });
  });
}
