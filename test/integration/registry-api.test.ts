/**
 * The job registry over HTTP, against a real server and a real store (SQLite
 * file, and the same tests against PostgreSQL), with the reference client's
 * exact paths, query parameters and payloads.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { STORE_KINDS, type StoreTarget } from "./registry-stores.ts";
import { RESOURCES, call, startServer, type RunningServer } from "./registry-server.ts";
import { until } from "../helpers/until.ts";

/** A definition as the reference client's deployment pipeline upserts it (OpDefinition.to_dict()). */
const DEFINITION = {
  name: "scale",
  version: "1.0",
  description: "count -> multiply -> return",
  image: "basic.yaml",
  constraints: { cpu: 1, ram_mb: 100, vram_mb: 0, tags: [] },
  retry_policy: { max_attempts: 2 },
  priority: 5,
};

for (const k of STORE_KINDS) {
  describe.skipIf(k.skip)(`registry api - ${k.title}`, () => {
    let target: StoreTarget;
    let srv: RunningServer;
    const c = (method: string, p: string, json?: unknown, opts?: Parameters<typeof call>[4]) => call(srv.base, method, p, json, opts);
    const heartbeat = (worker_id: string, extra: Record<string, unknown> = {}) => c("POST", "/workers/heartbeat", { worker_id, resources: RESOURCES, tags: [], ...extra });
    const claim = async (worker: string) => (await c("POST", `/workers/${worker}/claim`)).body.ops as Array<Record<string, any>>;

    beforeEach(async () => {
      target = await k.target();
      srv = await startServer(target, { workerTimeoutMs: 30_000, maxBodyBytes: 64 * 1024 });
    });
    afterEach(async () => {
      await srv?.close();
      await target?.cleanup();
    });

    it("refuses a missing or wrong X-API-Key with 401 before anything else, on every path", async () => {
      for (const [method, p] of [["POST", "/definitions"], ["GET", "/definitions"], ["GET", "/runs/x"], ["POST", "/workers/heartbeat"], ["GET", "/no/such/path"]] as const) {
        const body = method === "GET" ? undefined : {};
        expect((await c(method, p, body, { key: null })).status).toBe(401);
        expect((await c(method, p, body, { key: "wrong" })).status).toBe(401);
      }
      expect((await c("GET", "/no/such/path")).status).toBe(404);
    });

    it("the reference client's calls: definitions, a run from one, a worker running it, events, attempts", async () => {
      const up = await c("POST", "/definitions", DEFINITION);
      expect(up.status).toBeLessThan(300);
      expect(up.body).toMatchObject({ name: "scale", version: "1.0", image: "basic.yaml", retry_policy: { max_attempts: 2 }, priority: 5 });
      expect(up.body.inputs).toEqual({ factor: { type: "number", required: false, default: 2, description: "what each index is multiplied by" } });
      expect(typeof up.body.created_at).toBe("string");
      await c("POST", "/definitions", { ...DEFINITION, version: "2.0", description: "second" });
      expect((await c("GET", "/definitions/scale")).body.version).toBe("2.0");
      expect((await c("GET", "/definitions/scale", undefined, { params: { version: "1.0" } })).body.description).toBe("count -> multiply -> return");
      expect((await c("GET", "/definitions")).body.map((d: any) => d.version).sort()).toEqual(["1.0", "2.0"]);
      expect((await c("GET", "/definitions/nope")).status).toBe(404);

      const created = await c("POST", "/definitions/scale/runs", { inputs: { factor: 10, epochs: 3 }, priority: 5 }, { params: { version: "1.0" } });
      expect(created.status).toBeLessThan(300);
      const run = created.body;
      expect(run).toMatchObject({ definition: { name: "scale", version: "1.0" }, image: "basic.yaml", inputs: { factor: 10, epochs: 3 }, outputs: null, priority: 5, state: "PENDING", attempt: 1, max_attempts: 2, worker_id: null, progress: 0, error_message: null });
      for (const key of ["id", "created_at", "updated_at", "events", "attempts"]) expect(run).toHaveProperty(key);
      expect(run.events).toEqual([{ id: 0, type: "CREATED", t: expect.any(String), msg: "created", state: "PENDING" }]);

      const w = await heartbeat("w1", { tags: ["cpu"], running_ops: [] });
      expect(w.body).toMatchObject({ worker_id: "w1", resources: RESOURCES, tags: ["cpu"], running_ops: [], status: "online" });
      const ops = await claim("w1");
      expect(ops).toHaveLength(1);
      expect(ops[0]).toMatchObject({ run_id: run.id, attempt: 1, image: "basic.yaml", inputs: { factor: 10, epochs: 3 }, constraints: DEFINITION.constraints });
      expect(ops[0]!.graph.nodes.scale.type).toBe("multiply");
      expect(await claim("w1")).toEqual([]);

      for (const [type, msg, payload] of [["STARTED", "starting", undefined], ["PROGRESS", 50, undefined], ["INFO", "half way", undefined], ["COMPLETED", "done", { outputs: { values: [0, 10, 20] } }]] as const) {
        const r = await c("POST", `/runs/${run.id}/events`, payload ? { type, msg, payload } : { type, msg });
        expect(r.status, JSON.stringify(r.body)).toBe(200);
      }
      const done = (await c("GET", `/runs/${run.id}`)).body;
      expect(done).toMatchObject({ state: "COMPLETED", progress: 100, worker_id: "w1", outputs: { values: [0, 10, 20] } });
      expect(done.events.map((e: any) => [e.id, e.type, e.state])).toEqual([
        [0, "CREATED", "PENDING"],
        [1, "ASSIGNED", "ASSIGNED"],
        [2, "STARTED", "RUNNING"],
        [3, "PROGRESS", "RUNNING"],
        [4, "INFO", "RUNNING"],
        [5, "COMPLETED", "COMPLETED"],
      ]);
      const polled = await c("GET", `/runs/${run.id}/events`, undefined, { params: { after: 3 } });
      expect(polled.body.events.map((e: any) => e.id)).toEqual([4, 5]);
      expect(polled.body.events[1]).toMatchObject({ type: "COMPLETED", msg: "done", payload: { outputs: { values: [0, 10, 20] } } });
      const attempts = (await c("GET", `/runs/${run.id}/attempts`)).body;
      expect(attempts).toEqual([{ number: 1, worker_id: "w1", state: "COMPLETED", started_at: expect.any(String), ended_at: expect.any(String), error_message: null }]);
      const workers = (await c("GET", "/workers")).body;
      expect(workers).toEqual([expect.objectContaining({ worker_id: "w1", status: "online", last_heartbeat: expect.any(String) })]);
    });

    it("ad-hoc runs (create_run) with image or inline graph, constraints, retry policy and event_delivery", async () => {
      const r = await c("POST", "/runs", { image: "basic.yaml", inputs: { factor: 3 }, priority: 7, constraints: { cpu: 2, ram_mb: 0, vram_mb: 0, tags: ["x"] }, retry_policy: { max_attempts: 5 }, event_delivery: { webhook: "http://127.0.0.1:9/hook" } });
      expect(r.status).toBeLessThan(300);
      expect(r.body).toMatchObject({ definition: null, image: "basic.yaml", inputs: { factor: 3, epochs: 1 }, priority: 7, max_attempts: 5, constraints: { cpu: 2, tags: ["x"] }, event_delivery: { webhook: "http://127.0.0.1:9/hook" } });
      const inline = await c("POST", "/runs", { image: "", graph: { nodes: { a: { type: "count" }, return: { type: "return", depends: "a.index" } } }, inputs: { epochs: 2 } });
      expect(inline.status, JSON.stringify(inline.body)).toBeLessThan(300);
      expect(inline.body.inputs).toEqual({ epochs: 2 });
    });

    it("every transition, allowed and refused", async () => {
      await heartbeat("w");
      const mk = async (extra: Record<string, unknown> = {}) => (await c("POST", "/runs", { image: "basic.yaml", inputs: {}, priority: 5, ...extra })).body.id as string;
      const ev = (id: string, type: string, msg: string | number = "", payload?: unknown) => c("POST", `/runs/${id}/events`, payload ? { type, msg, payload } : { type, msg });

      const a = await mk({ retry_policy: { max_attempts: 2 } });
      expect((await ev(a, "STARTED")).status).toBe(400); // PENDING -> RUNNING needs ASSIGNED
      expect((await ev(a, "COMPLETED")).status).toBe(400);
      expect((await c("PATCH", `/runs/${a}`, { state: "ASSIGNED" })).status).toBe(400);
      await claim("w");
      expect((await c("PATCH", `/runs/${a}`, { state: "PENDING" })).body).toMatchObject({ state: "PENDING", worker_id: null, attempt: 1 }); // released
      await claim("w");
      expect((await ev(a, "PROGRESS", 10)).status).toBe(400); // not RUNNING yet
      expect((await ev(a, "STARTED", "go")).body.state).toBe("RUNNING");
      expect((await ev(a, "PROGRESS", 101)).status).toBe(400);
      expect((await ev(a, "BOGUS", "x")).status).toBe(400);
      expect((await ev(a, "PROGRESS", "40")).body.progress).toBe(40);
      const failed = await ev(a, "FAILED", "boom", { error_message: "node x: ValueError: boom" });
      expect(failed.body).toMatchObject({ state: "FAILED", error_message: "node x: ValueError: boom" });
      const retried = await c("POST", `/runs/${a}/retry`);
      expect(retried.body).toMatchObject({ state: "PENDING", attempt: 2, worker_id: null, error_message: null });
      expect(retried.body.attempts.map((t: any) => [t.number, t.state])).toEqual([
        [1, "FAILED"],
        [2, "PENDING"],
      ]);
      expect((await ev(a, "CANCELLED", "stop")).body.state).toBe("CANCELLED");
      expect((await c("POST", `/runs/${a}/retry`)).status).toBe(400); // attempt 2 of 2

      const b = await mk();
      await claim("w");
      await ev(b, "STARTED");
      expect((await c("PATCH", `/runs/${b}`, { state: "COMPLETED", outputs: { values: [1] } })).body).toMatchObject({ state: "COMPLETED", outputs: { values: [1] } });
      for (const attempt of [ev(b, "INFO", "late"), ev(b, "FAILED"), c("PATCH", `/runs/${b}`, { priority: 1 }), c("POST", `/runs/${b}/retry`)]) expect((await attempt).status).toBe(400);

      const d = await mk();
      expect((await c("PATCH", `/runs/${d}`, { priority: 9 })).body.priority).toBe(9);
      expect((await c("PATCH", `/runs/${d}`, { state: "CANCELLED" })).body.state).toBe("CANCELLED");
      expect((await c("POST", `/runs/${d}/retry`)).body).toMatchObject({ state: "PENDING", attempt: 2 });

      for (const p of ["/runs/none", "/runs/none/events", "/runs/none/attempts"]) expect((await c("GET", p)).status).toBe(404);
      expect((await c("POST", "/runs/none/retry")).status).toBe(404);
      expect((await c("POST", "/workers/nobody/claim")).status).toBe(404);
    });

    it("bad bodies, bad inputs and oversized bodies are refused with 400/413 and a reason", async () => {
      const bad = await c("POST", "/definitions", undefined, { raw: "{not json" });
      expect(bad.status).toBe(400);
      const schema = await c("POST", "/definitions", { name: "", priority: "high", constraints: { cpu: -1 } });
      expect(schema.status).toBe(400);
      expect(schema.body.issues.map((i: any) => i.path)).toEqual(expect.arrayContaining(["name", "priority", "constraints.cpu"]));
      const wrongType = await c("POST", "/runs", { image: "basic.yaml", inputs: { factor: "ten" }, priority: 5 });
      expect(wrongType.status).toBe(400);
      expect(wrongType.body.detail).toContain('input "factor"');
      const unknown = await c("POST", "/runs", { image: "basic.yaml", inputs: { fctor: 1 }, priority: 5 });
      expect(unknown.status).toBe(400);
      expect(unknown.body.detail).toContain('"fctor"');
      expect((await c("POST", "/runs", { image: "../package.json", inputs: {} })).status).toBe(400);
      expect((await c("POST", "/runs", { image: "missing.yaml", inputs: {} })).status).toBe(400);
      const badGraph = await c("POST", "/runs", { graph: { nodes: { a: { type: "count", depends: 5 } } }, inputs: {} });
      expect(badGraph.status).toBe(400);
      expect(badGraph.body.issues[0].path).toMatch(/^graph\.nodes\.a/);
      const big = await c("POST", "/runs", { image: "basic.yaml", inputs: {}, pad: "x".repeat(100 * 1024) });
      expect(big.status).toBe(413);
      expect((await c("POST", "/workers/heartbeat", { worker_id: "w", resources: { cpu_cores: "many" } })).status).toBe(400);
      expect((await c("GET", "/runs/x/events", undefined, { params: { after: "abc" } })).status).toBe(400);
      // The server is still fine.
      expect((await c("GET", "/definitions")).status).toBe(200);
      expect(srv.jobs.router.refused.tooLarge).toBe(1);
    });

    it("placement by resources, tags and priority", async () => {
      await heartbeat("small", { resources: { cpu_cores: 2, ram_mb: 1000, gpus: [] }, tags: [] });
      await heartbeat("gpu", { resources: { cpu_cores: 8, ram_mb: 16000, gpus: [{ id: 0, vram_mb: 8000, tags: ["cuda"] }] }, tags: ["big"] });
      const mk = async (priority: number, constraints: Record<string, unknown>) => (await c("POST", "/runs", { image: "basic.yaml", inputs: {}, priority, constraints })).body.id as string;
      const low = await mk(1, { cpu: 1 });
      const high = await mk(9, { cpu: 1 });
      const tagged = await mk(5, { cpu: 1, tags: ["big"] });
      const vram = await mk(5, { vram_mb: 6000, tags: ["cuda"] });
      const huge = await mk(10, { cpu: 64 });
      const claimN = async (w: string, n: number) => (await c("POST", `/workers/${w}/claim`, undefined, { params: { limit: n } })).body.ops.map((o: any) => o.run_id);
      // small: the highest priority first; the tagged, GPU and too-large runs are not for it; 2 cores hold 2 runs of 1 cpu.
      expect(await claimN("small", 10)).toEqual([high, low]);
      expect(await claimN("small", 10)).toEqual([]);
      expect(await claimN("gpu", 10)).toEqual([tagged, vram]);
      expect((await c("GET", `/runs/${huge}`)).body.state).toBe("PENDING");
      // Finishing a run frees its resources.
      await c("POST", `/runs/${high}/events`, { type: "STARTED", msg: "" });
      await c("POST", `/runs/${high}/events`, { type: "COMPLETED", msg: "", payload: { outputs: { values: [] } } });
      const again = await mk(1, { cpu: 1 });
      expect(await claimN("small", 10)).toEqual([again]);
    });

    it("webhooks get every event of the run in order, retried after a failure, without slowing the API", async () => {
      const got: any[] = [];
      let failFirst = true;
      const hook = http.createServer((req, res) => {
        let body = "";
        req.on("data", (d) => (body += d));
        req.on("end", () => {
          if (failFirst) {
            failFirst = false;
            res.writeHead(503).end();
            return;
          }
          got.push(JSON.parse(body));
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((r) => hook.listen(0, "127.0.0.1", r));
      try {
        const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
        const run = (await c("POST", "/runs", { image: "basic.yaml", inputs: {}, priority: 5, event_delivery: { webhook: url } })).body;
        await heartbeat("w");
        await claim("w");
        await c("POST", `/runs/${run.id}/events`, { type: "STARTED", msg: "" });
        await c("POST", `/runs/${run.id}/events`, { type: "COMPLETED", msg: "ok", payload: { outputs: { values: [4] } } });
        await until(async () => (got.length >= 4 ? true : undefined), 10_000, "4 webhook deliveries");
        expect(got.map((g) => [g.run_id, g.event.id, g.event.type])).toEqual([
          [run.id, 0, "CREATED"],
          [run.id, 1, "ASSIGNED"],
          [run.id, 2, "STARTED"],
          [run.id, 3, "COMPLETED"],
        ]);
        expect(got[3].event.payload).toEqual({ outputs: { values: [4] } });
      } finally {
        await new Promise<void>((r) => hook.close(() => r()));
      }
    });
  });
}
