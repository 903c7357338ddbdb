/**
 * The run tracking REST API against the requests the reference client
 * (afnio.tellurio) sends: its paths, `Authorization: Api-Key`, its bodies,
 * and the fields it reads from the answers. Both stores.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { STORE_KINDS, type StoreTarget } from "./registry-stores.ts";
import { KEY, startTestServer, type TestServer } from "./tracking-server.ts";

const ISO_Z = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

for (const k of STORE_KINDS) {
  describe.skipIf(k.skip)(`tracking - REST API (${k.title})`, () => {
    let target: StoreTarget;
    let srv: TestServer;
    /** As TellurioClient.get/post/delete (and patch) send them. */
    const call = async (method: string, path: string, body?: unknown, key = KEY) => {
      const headers: Record<string, string> = { Authorization: `Api-Key ${key}` };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      else headers.Accept = "*/*";
      const res = await fetch(srv.base + path, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
      const text = await res.text();
      return { status: res.status, json: text ? JSON.parse(text) : undefined };
    };

    beforeEach(async () => {
      target = await k.target();
      srv = await startTestServer(target);
    });
    afterEach(async () => {
      await srv?.close();
      await target?.cleanup();
    });

    it("verify-api-key: 200 with email, username and message for a known key; 401 otherwise", async () => {
      const ok = await call("GET", "/api/v0/verify-api-key/");
      expect(ok.status).toBe(200);
      expect(Object.keys(ok.json).sort()).toEqual(["email", "message", "username"]);
      expect((await call("GET", "/api/v0/verify-api-key/", undefined, "wrong")).status).toBe(401);
      const none = await fetch(`${srv.base}/api/v0/verify-api-key/`);
      expect(none.status).toBe(401);
      expect(srv.tracking.router.refused.auth).toBe(2);
    });

    it("run.init's calls: project 404 -> created 201 with the slug -> run 201 -> log 201 -> finish 200; lists and reads", async () => {
      // get_project: 404 for a project that does not exist yet.
      expect((await call("GET", "/api/v0/my-org/projects/graph-experiments/")).status).toBe(404);
      // create_project
      const p = await call("POST", "/api/v0/my-org/projects/", { display_name: "Graph Experiments", visibility: "RESTRICTED" });
      expect(p.status).toBe(201);
      expect(Object.keys(p.json).sort()).toEqual(["date_created", "display_name", "last_run_date", "org_display_name", "org_slug", "org_uuid", "role", "slug", "uuid", "visibility"]);
      expect(p.json).toMatchObject({ display_name: "Graph Experiments", slug: "graph-experiments", visibility: "RESTRICTED", last_run_date: null, org_slug: "my-org" });
      expect(p.json.date_created).toMatch(ISO_Z);
      expect((await call("GET", "/api/v0/my-org/projects/graph-experiments/")).json.uuid).toBe(p.json.uuid);

      // init: name, description, status
      const r = await call("POST", "/api/v0/my-org/projects/graph-experiments/runs/", { name: "MyRun", description: "a test run", status: "RUNNING" });
      expect(r.status).toBe(201);
      expect(Object.keys(r.json).sort()).toEqual(["date_created", "date_updated", "description", "name", "project", "status", "user", "uuid"]);
      expect(r.json).toMatchObject({ name: "MyRun", description: "a test run", status: "RUNNING", project: { uuid: p.json.uuid, display_name: "Graph Experiments", slug: "graph-experiments" } });
      expect(Object.keys(r.json.user).sort()).toEqual(["slug", "username", "uuid"]);
      expect(r.json.date_created).toMatch(ISO_Z);
      expect(r.json.date_updated).toMatch(ISO_Z);
      const runPath = `/api/v0/my-org/projects/graph-experiments/runs/${r.json.uuid}/`;

      // A taken name gets _1, _2; no name gets a generated one.
      expect((await call("POST", "/api/v0/my-org/projects/graph-experiments/runs/", { name: "MyRun" })).json.name).toBe("MyRun_1");
      expect((await call("POST", "/api/v0/my-org/projects/graph-experiments/runs/", { name: "MyRun" })).json.name).toBe("MyRun_2");
      const gen = await call("POST", "/api/v0/my-org/projects/graph-experiments/runs/", { status: "RUNNING" });
      expect(gen.json.name).toMatch(/^[a-z]+_[a-z]+_\d{1,3}$/);
      expect(gen.json.description).toBe("");

      // Run.log: with and without step (the server computes it).
      expect((await call("POST", `${runPath}metrics/`, { name: "loss", value: 0.5 })).status).toBe(201);
      expect((await call("POST", `${runPath}metrics/`, { name: "loss", value: 0.25 })).status).toBe(201);
      const stepped = await call("POST", `${runPath}metrics/`, { name: "accuracy", value: 0.9, step: 7 });
      expect(stepped.json).toMatchObject({ name: "accuracy", value: 0.9, step: 7 });
      const metrics = await call("GET", `${runPath}metrics/`);
      expect(metrics.status).toBe(200);
      expect(metrics.json.map((m: { name: string; value: unknown; step: number }) => [m.name, m.value, m.step])).toEqual([["loss", 0.5, 0], ["loss", 0.25, 1], ["accuracy", 0.9, 7]]);
      for (const m of metrics.json) expect(Object.keys(m).sort()).toEqual(["name", "step", "timestamp", "value"]);

      // Run.finish
      const fin = await call("PATCH", runPath, { status: "COMPLETED" });
      expect(fin.status).toBe(200);
      expect(fin.json.status).toBe("COMPLETED");
      expect((await call("GET", runPath)).json.status).toBe("COMPLETED");

      // The test helper of the reference reads the status from the list.
      const list = await call("GET", "/api/v0/my-org/projects/graph-experiments/runs/");
      expect(list.status).toBe(200);
      expect(Array.isArray(list.json)).toBe(true);
      expect(list.json.find((x: { uuid: string }) => x.uuid === r.json.uuid).status).toBe("COMPLETED");
      expect(list.json).toHaveLength(4);
      expect((await call("GET", "/api/v0/my-org/projects/graph-experiments/")).json.last_run_date).toMatch(ISO_Z);

      // delete_project: 204, then 404; its runs are gone.
      expect((await call("DELETE", "/api/v0/my-org/projects/graph-experiments/")).status).toBe(204);
      expect((await call("GET", runPath)).status).toBe(404);
      expect((await call("DELETE", "/api/v0/my-org/projects/graph-experiments/")).status).toBe(404);
    });

    it("refuses bad bodies with 400 and names the field; unknown runs and paths are 404", async () => {
      await call("POST", "/api/v0/ns/projects/", { display_name: "P" });
      const bad = await call("POST", "/api/v0/ns/projects/p/runs/", { status: "DONE" });
      expect(bad.status).toBe(400);
      expect(bad.json.detail).toContain("status");
      expect(bad.json.code).toBe("TUBULAR_ERR_TRACKING_BAD_REQUEST");
      const r = (await call("POST", "/api/v0/ns/projects/p/runs/", {})).json;
      expect((await call("POST", `/api/v0/ns/projects/p/runs/${r.uuid}/metrics/`, { value: 1 })).status).toBe(400);
      expect((await call("POST", `/api/v0/ns/projects/p/runs/${r.uuid}/metrics/`, { name: "x", value: 1, step: -1 })).status).toBe(400);
      const notJson = await fetch(`${srv.base}/api/v0/ns/projects/p/runs/`, { method: "POST", headers: { Authorization: `Api-Key ${KEY}`, "Content-Type": "application/json" }, body: "{oops" });
      expect(notJson.status).toBe(400);
      expect((await call("GET", "/api/v0/ns/projects/p/runs/00000000-0000-0000-0000-000000000000/")).status).toBe(404);
      expect((await call("POST", "/api/v0/ns/projects/nope/runs/", {})).status).toBe(404);
      expect((await call("GET", "/api/v0/ns/unknown/")).status).toBe(404);
      // The run stays as it was after the refusals.
      expect((await call("GET", `/api/v0/ns/projects/p/runs/${r.uuid}/metrics/`)).json).toEqual([]);
    });
  });
}
