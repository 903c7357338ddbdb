/**
 * The WebSocket worker registry against a worker that speaks the reference's
 * frames exactly: register and reconnect, availability yes / no / no answer,
 * assignment, updates into the job registry, termination, status and load,
 * drop and retry; no server frame ever carries a key the client does not know.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { STORE_KINDS, type StoreTarget } from "./registry-stores.ts";
import { ReferenceWorker } from "./agents-worker.ts";
import { KEY, startTestServer, type TestServer } from "./tracking-server.ts";
import { until } from "../helpers/until.ts";

/** Long enough that a worker reconnects within it even on a loaded machine. */
const GRACE_MS = 3000;

const GRAPH = { noob_id: "g", nodes: { count: { type: "count" }, return: { type: "return", depends: "count.index" } } };

for (const k of STORE_KINDS) {
  describe.skipIf(k.skip)(`agents - WebSocket worker registry (${k.title})`, { timeout: 60_000 }, () => {
    let target: StoreTarget;
    let srv: TestServer;
    const workers: ReferenceWorker[] = [];
    const url = () => `ws://127.0.0.1:${srv.port}/agent`;
    const worker = (name?: string) => {
      const w = new ReferenceWorker(url(), KEY, name);
      workers.push(w);
      return w;
    };
    const api = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(srv.base + path, { method, headers: { "X-API-Key": KEY, "Content-Type": "application/json" }, ...(body ? { body: JSON.stringify(body) } : {}) });
      return { status: res.status, json: (await res.json()) as Record<string, any> };
    };
    const submit = async (maxAttempts = 2) => (await api("POST", "/runs", { graph: GRAPH, inputs: {}, retry_policy: { max_attempts: maxAttempts } })).json.id as string;
    const state = async (id: string) => (await srv.jobs.store.getRun(id))!.state;

    beforeEach(async () => {
      target = await k.target();
      srv = await startTestServer(target, { agents: { availabilityTimeoutMs: 600, graceMs: GRACE_MS, pollMs: 50, declineMs: 60_000 } });
    });
    afterEach(async () => {
      for (const w of workers.splice(0)) {
        expect(w.violations).toEqual([]);
        await w.close().catch(() => undefined);
      }
      await srv?.close();
      await target?.cleanup();
    });

    it("refuses a wrong token at the upgrade with 401; init-config answers the registry URL", async () => {
      const bad = new ReferenceWorker(url(), "wrong");
      await expect(bad.open()).rejects.toMatchObject({ status: 401 });
      expect(srv.agents.refused.auth).toBe(1);
      const res = await fetch(`${srv.base}/v2/agent/init-config`, { method: "POST", headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json" }, body: "{}" });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ success: true, data: { registryUrl: `ws://127.0.0.1:${srv.port}/agent` } });
      expect((await fetch(`${srv.base}/v2/agent/init-config`, { method: "POST" })).status).toBe(401);
    });

    it("register gives a new id; reconnecting with it confirms it; a bad config is refused with a message; ping -> pong", async () => {
      const w = worker();
      await w.open();
      const r = await w.register();
      expect(r).toMatchObject({ type: "register", success: true });
      expect(String(r.worker_id)).toMatch(/^[0-9a-f-]{36}$/);
      expect(typeof r.payload).toBe("object");
      const id = w.workerId;
      const pong = w.next((f) => f.type === "pong");
      w.send({ type: "ping", timestamp: 1234567 });
      expect(await pong).toEqual({ type: "pong", timestamp: 1234567 });
      // A second socket with the same id while the first is open is refused.
      const twin = worker();
      twin.workerId = id;
      await twin.open();
      const refused = await twin.register();
      expect(refused).toMatchObject({ type: "register", success: false });
      expect(String(refused.message)).toContain("already connected");
      await w.close();
      await twin.close();
      // Reconnect: the same id is confirmed.
      const again = worker();
      again.workerId = id;
      await again.open();
      expect(await again.register()).toMatchObject({ success: true, worker_id: id });
      const bad = worker();
      await bad.open();
      expect(await bad.register({ loadThreshold: 2 })).toMatchObject({ success: false, message: expect.stringContaining("load_threshold") });
      // Garbage frames are dropped and counted; the socket stays usable.
      again.ws.send("{not json");
      again.send({ type: 42 });
      const pong2 = again.next((f) => f.type === "pong");
      again.send({ type: "ping", timestamp: 9 });
      expect((await pong2).timestamp).toBe(9);
      expect(srv.agents.refused.frames).toBe(2);
    });

    it("a run is offered, accepted, assigned with its graph in metadata, and its updates drive the job registry and tracking", async () => {
      const w = worker();
      await w.open();
      await w.register();
      const ask = w.next((f) => f.type === "availability_request");
      const id = await submit();
      const req = await ask;
      expect(req).toMatchObject({ type: "availability_request", job_id: id, room_id: id, agent_name: w.agentName });
      const assign = w.next((f) => f.type === "job_assignment");
      w.answer(id, true);
      const a = await assign;
      expect(a.job_id).toBe(id);
      const meta = a.metadata as Record<string, any>;
      expect(meta).toMatchObject({ run_id: id, attempt: 1, graph: GRAPH });
      expect(meta.track).toMatchObject({ namespace: "tubular", project: "jobs" });
      expect(await state(id)).toBe("ASSIGNED");
      w.update(id, "running");
      await until(async () => (await state(id)) === "RUNNING", 10_000, "RUNNING");
      w.update(id, "completed", undefined, JSON.stringify({ outputs: { value: 9 } }));
      await until(async () => (await state(id)) === "COMPLETED", 10_000, "COMPLETED");
      const run = (await api("GET", `/runs/${id}`)).json;
      expect(run.outputs).toEqual({ value: 9 });
      const events = (await api("GET", `/runs/${id}/events`)).json.events.map((e: { type: string }) => e.type);
      expect(events).toEqual(["CREATED", "ASSIGNED", "STARTED", "COMPLETED"]);
      const tracked = await srv.tracking.tracker.run(meta.track.run_uuid);
      expect(tracked).toMatchObject({ status: "COMPLETED", job_run_id: id });
    });

    it("a worker that says no, or does not answer, is skipped and the next is asked", async () => {
      const no = worker("no");
      const silent = worker("silent");
      const yes = worker("yes");
      for (const w of [no, silent, yes]) {
        await w.open();
        await w.register();
      }
      no.ws.on("message", (d) => {
        const f = JSON.parse(d.toString());
        if (f.type === "availability_request") no.answer(f.job_id, false);
      });
      yes.ws.on("message", (d) => {
        const f = JSON.parse(d.toString());
        if (f.type === "availability_request") yes.answer(f.job_id, true);
      });
      const id = await submit();
      const a = await yes.next((f) => f.type === "job_assignment" && f.job_id === id, 15_000);
      expect(a.job_id).toBe(id);
      // "no" and "silent" were asked first (same load: registration order) and did not get it.
      for (const w of [no, silent]) expect(w.frames.filter((f) => f.type === "availability_request").map((f) => f.job_id)).toEqual([id]);
      expect(no.frames.some((f) => f.type === "job_assignment")).toBe(false);
      expect(silent.frames.some((f) => f.type === "job_assignment")).toBe(false);
      expect((await srv.jobs.store.getRun(id))!.worker_id).toBe(yes.workerId);
    });

    it("a worker at its load threshold is not offered jobs; status_update brings it back; offline and draining are skipped", async () => {
      const w = worker();
      await w.open();
      await w.register({ loadThreshold: 0.5, maxProcesses: 2 });
      w.ws.on("message", (d) => {
        const f = JSON.parse(d.toString());
        if (f.type === "availability_request") w.answer(f.job_id, true);
      });
      const first = await submit();
      await w.next((f) => f.type === "job_assignment" && f.job_id === first);
      // One job of two processes: load 0.5 = threshold: nothing more is offered.
      const second = await submit();
      await new Promise((r) => setTimeout(r, 400));
      expect(w.frames.filter((f) => f.type === "availability_request").map((f) => f.job_id)).toEqual([first]);
      expect(srv.agents.connected[0]).toMatchObject({ load_threshold: 0.5, max_processes: 2 });
      // The worker reports itself draining, then the first finishes: still nothing.
      w.status("draining", 0.5, 1);
      w.update(first, "completed");
      await until(async () => (await srv.jobs.store.tracking.getAgentWorker(w.workerId))?.status === "draining", 10_000, "draining stored");
      await until(async () => (await state(first)) === "COMPLETED", 10_000, "first completed");
      await new Promise((r) => setTimeout(r, 300));
      expect(w.frames.filter((f) => f.type === "availability_request")).toHaveLength(1);
      // Idle again with load 0: the second is offered.
      const offered = w.next((f) => f.type === "job_assignment" && f.job_id === second);
      w.status("idle", 0, 0);
      await offered;
      expect(await srv.jobs.store.tracking.getAgentWorker(w.workerId)).toMatchObject({ status: "idle", load: 0, job_count: 0, connected: true });
    });

    it("cancelling a run sends job_termination to its worker", async () => {
      const w = worker();
      await w.open();
      await w.register();
      const ask = w.next((f) => f.type === "availability_request");
      const id = await submit();
      await ask;
      const assigned = w.next((f) => f.type === "job_assignment");
      w.answer(id, true);
      await assigned;
      w.update(id, "running");
      await until(async () => (await state(id)) === "RUNNING", 10_000, "RUNNING");
      const term = w.next((f) => f.type === "job_termination");
      expect((await api("PATCH", `/runs/${id}`, { state: "CANCELLED" })).status).toBe(200);
      expect(await term).toEqual({ type: "job_termination", job_id: id, reason: "cancelled" });
    });

    it("a worker whose socket drops is offline; past the grace period its run is retried and goes to another worker", async () => {
      const a = worker("a");
      await a.open();
      await a.register();
      const ask = a.next((f) => f.type === "availability_request");
      const id = await submit(2);
      await ask;
      const assigned = a.next((f) => f.type === "job_assignment");
      a.answer(id, true);
      await assigned;
      a.update(id, "running");
      await until(async () => (await state(id)) === "RUNNING", 10_000, "RUNNING");
      await a.kill();
      await until(async () => (await srv.jobs.store.tracking.getAgentWorker(a.workerId))?.status === "offline", 10_000, "offline");
      const b = worker("b");
      await b.open();
      await b.register();
      const ask2 = b.next((f) => f.type === "availability_request" && f.job_id === id, 20_000);
      await until(async () => (await srv.jobs.store.getRun(id))!.attempt === 2, 20_000, "retried");
      await ask2;
      const assigned2 = b.next((f) => f.type === "job_assignment");
      b.answer(id, true);
      expect(((await assigned2).metadata as Record<string, unknown>).attempt).toBe(2);
      const events = (await api("GET", `/runs/${id}/events`)).json.events.map((e: { type: string; msg: unknown }) => `${e.type}:${e.msg}`);
      expect(events).toContain("FAILED:worker lost");
      expect(events).toContain("RETRY:attempt 2");
    });

    it("a worker that comes back within the grace period keeps its run", async () => {
      const a = worker("a");
      await a.open();
      await a.register();
      const ask = a.next((f) => f.type === "availability_request");
      const id = await submit();
      await ask;
      const assigned = a.next((f) => f.type === "job_assignment");
      a.answer(id, true);
      await assigned;
      const wid = a.workerId;
      await a.kill();
      const back = worker("a");
      back.workerId = wid;
      await back.open();
      expect(await back.register()).toMatchObject({ success: true, worker_id: wid });
      // Past the grace period: the run is still this worker's.
      await new Promise((r) => setTimeout(r, GRACE_MS + 300));
      expect((await srv.jobs.store.getRun(id))!).toMatchObject({ worker_id: wid, state: "ASSIGNED", attempt: 1 });
      back.update(id, "running");
      back.update(id, "completed");
      await until(async () => (await state(id)) === "COMPLETED", 10_000, "COMPLETED");
      expect((await srv.jobs.store.getRun(id))!.attempt).toBe(1);
    });
  });
}
