/**
 * `tubular jobs` and `tubular workers` against a real server (SQLite).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tubular } from "../helpers/cli.ts";
import { sqliteTarget, type StoreTarget } from "./registry-stores.ts";
import { KEY, RESOURCES, call, startServer, type RunningServer } from "./registry-server.ts";

describe("registry cli - tubular jobs and tubular workers", () => {
  let target: StoreTarget;
  let srv: RunningServer;
  const opts = () => ["--server", srv.base, "--api-key", KEY];

  beforeAll(async () => {
    target = await sqliteTarget();
    srv = await startServer(target);
  });
  afterAll(async () => {
    await srv?.close();
    await target?.cleanup();
  });

  it("submit a graph file, list it, follow it to COMPLETED, cancel and retry another; workers", async () => {
    const sub = await tubular(["jobs", "submit", "examples/basic.yaml", "--input", "factor=3", "--epochs", "2", "--priority", "7", ...opts()]);
    expect(sub.stderr).toBe("");
    expect(sub.code).toBe(0);
    const id = sub.stdout.trim();
    const run = (await call(srv.base, "GET", `/runs/${id}`)).body;
    expect(run).toMatchObject({ state: "PENDING", priority: 7, inputs: { factor: 3, epochs: 2 }, image: "" });

    const list = await tubular(["jobs", "list", "--json", ...opts()]);
    expect(JSON.parse(list.stdout).map((r: any) => r.id)).toEqual([id]);

    // A worker (over HTTP) runs it, so --follow sees it through.
    await call(srv.base, "POST", "/workers/heartbeat", { worker_id: "w", resources: RESOURCES, tags: ["t"] });
    await call(srv.base, "POST", "/workers/w/claim");
    await call(srv.base, "POST", `/runs/${id}/events`, { type: "STARTED", msg: "" });
    await call(srv.base, "POST", `/runs/${id}/events`, { type: "COMPLETED", msg: "", payload: { outputs: { values: [0, 3] } } });
    const shown = await tubular(["jobs", "show", id, "--follow", "--json", ...opts()]);
    expect(shown.code).toBe(0);
    expect(shown.stdout.trim().split("\n").map((l) => JSON.parse(l).type)).toEqual(["CREATED", "ASSIGNED", "STARTED", "COMPLETED"]);

    const other = (await call(srv.base, "POST", "/runs", { image: "basic.yaml", inputs: {}, priority: 5 })).body.id;
    const cancel = await tubular(["jobs", "cancel", other, ...opts()]);
    expect(cancel.stdout).toContain(`${other} CANCELLED (attempt 1 of 3)`);
    const retry = await tubular(["jobs", "retry", other, "--json", ...opts()]);
    expect(JSON.parse(retry.stdout)).toMatchObject({ id: other, state: "PENDING", attempt: 2 });

    await call(srv.base, "POST", "/workers/heartbeat", { worker_id: "w", resources: RESOURCES, tags: ["t"] });
    const workers = await tubular(["workers", ...opts()]);
    expect(workers.stdout).toMatch(/^WORKER\s+STATUS\s+CPU/);
    expect(workers.stdout).toMatch(/\nw\s+online\s+4\s+8192\s+0\s+t\s+0\s/);
  }, 120_000);

  it("a wrong key and an unreachable server are reported, with exit code 1", async () => {
    const wrong = await tubular(["jobs", "show", "nope", "--server", srv.base, "--api-key", "wrong"]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("401");
    const down = await tubular(["workers", "--server", "http://127.0.0.1:1", "--api-key", KEY]);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain("TUBULAR_ERR_REGISTRY_UNREACHABLE");
  }, 60_000);
});
