/**
 * Run tracking over JSON-RPC, on the wire: `runner.init` with `track` makes a
 * tracked run that gets the runner's per-epoch figures and its nodes' ctx.log
 * (from ZeroMQ runner processes too) and is finished with the runner; a call
 * carrying `run_uuid` (as the reference client adds its active run's id)
 * attaches the runner it creates to that run; the tracking.* methods create,
 * get, list, log and finish.
 */
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { until } from "../helpers/until.ts";
import { Raw } from "./bridge-raw.ts";
import { sqliteTarget, type StoreTarget } from "./registry-stores.ts";
import { KEY, startTestServer, type TestServer } from "./tracking-server.ts";

const FIX = fileURLToPath(new URL("../fixtures/tracking/", import.meta.url));

describe("tracking - JSON-RPC runners and the tracking methods", { timeout: 90_000 }, () => {
  let target: StoreTarget;
  let srv: TestServer;
  let raw: Raw;

  beforeEach(async () => {
    target = await sqliteTarget();
    srv = await startTestServer(target, { graphsDir: FIX });
    raw = await Raw.open(`ws://127.0.0.1:${srv.port}/ws/v0/rpc/`, KEY);
    await raw.next((f) => f.result?.session_id);
  });
  afterEach(async () => {
    raw?.close();
    await srv?.close();
    await target?.cleanup();
  });

  let seq = 0;
  const ok = async (method: string, params: unknown) => {
    const id = `c${seq++}`;
    raw.send({ jsonrpc: "2.0", method, params, id });
    // Starting runner processes takes seconds on a loaded machine: a generous bound, not a sleep.
    const r = await raw.next((f) => f.id === id && !("method" in f), 60_000);
    expect(r.error, JSON.stringify(r.error)).toBeUndefined();
    return r.result;
  };
  const metricsOf = async (uuid: string) => {
    const all = await srv.tracking.tracker.metrics(uuid);
    return (name: string) => all.filter((m) => m.name === name).sort((a, b) => a.step - b.step);
  };

  for (const runner of ["local", "zmq"] as const) {
    it(`runner.init with track (${runner}): the run gets the epochs and the nodes' ctx.log, and is COMPLETED with the runner`, async () => {
      const tube = await ok("tube.load", { path: "loss.yaml", mirror: false });
      const init = await ok("runner.init", { tube_id: tube.tube_id, runner, track: { project: "RPC Experiments", name: `rpc-${runner}` } });
      expect(init.track).toMatchObject({ owned: true });
      const uuid = init.track.run_uuid as string;
      const before = await ok("tracking.runs.get", { uuid });
      expect(before).toMatchObject({ name: `rpc-${runner}`, status: "RUNNING", project: "rpc-experiments", namespace: "tubular" });
      for (let i = 0; i < 3; i++) await ok("runner.process", { runner_id: init.runner_id });
      await ok("runner.deinit", { runner_id: init.runner_id });
      expect((await ok("tracking.runs.get", { uuid })).status).toBe("COMPLETED");
      const of = await metricsOf(uuid);
      expect(of("loss").map((m) => [m.step, m.value])).toEqual([0, 1, 2].map((i) => [i, 1 / (i + 1)]));
      expect(of("epochs").map((m) => m.value)).toEqual([1, 2, 3]);
      expect(of("latency_ms")).toHaveLength(3);
    });
  }

  it("a runner made by a call carrying run_uuid logs into that run, which the client finishes; tracking.* over JSON-RPC", async () => {
    const run = await ok("tracking.runs.create", { project: "Client Runs", name: "mine" });
    expect(run).toMatchObject({ name: "mine", status: "RUNNING", project: "client-runs" });
    expect(run.date_created).toMatch(/Z$/);
    const tube = await ok("tube.load", { path: "loss.yaml", mirror: false, run_uuid: run.uuid });
    const init = await ok("runner.init", { tube_id: tube.tube_id, runner: "local", run_uuid: run.uuid });
    expect(init).toMatchObject({ run_uuid: run.uuid, track: { run_uuid: run.uuid, owned: false } });
    await ok("runner.process", { runner_id: init.runner_id, run_uuid: run.uuid });
    await ok("runner.process", { runner_id: init.runner_id, run_uuid: run.uuid });
    // The client logs its own metric into its active run: run_uuid is the run.
    expect(await ok("tracking.log", { name: "accuracy", value: 0.9, run_uuid: run.uuid })).toEqual({ logged: true });
    await ok("runner.deinit", { runner_id: init.runner_id, run_uuid: run.uuid });
    // The runner does not finish a run it did not make.
    expect((await ok("tracking.runs.get", { run_uuid: run.uuid })).status).toBe("RUNNING");
    expect((await ok("tracking.finish", { run_uuid: run.uuid })).status).toBe("COMPLETED");
    const of = await metricsOf(run.uuid);
    expect(of("loss").map((m) => m.value)).toEqual([1, 1 / 2]);
    expect(of("accuracy").map((m) => [m.step, m.value])).toEqual([[0, 0.9]]);
    const list = await ok("tracking.runs.list", { project: "Client Runs" });
    expect(list.runs.map((r: { name: string }) => r.name)).toEqual(["mine"]);
    // An unknown run is NOT_FOUND; no run id at all is INVALID_PARAMS.
    expect((await raw.call("tracking.runs.get", { uuid: "nope" })).error.code).toBe(-32002);
    expect((await raw.call("tracking.log", { name: "x", value: 1 })).error.code).toBe(-32602);
    // A run_uuid the store does not know is kept with the runner, and tracks nothing.
    const other = await ok("runner.init", { tube_id: tube.tube_id, runner: "local", run_uuid: "not-a-tracked-run" });
    expect(other).toMatchObject({ run_uuid: "not-a-tracked-run", track: null });
    await ok("runner.deinit", { runner_id: other.runner_id });
  });

  it("a node's error in a tracked runner makes its run CRASHED", async () => {
    const tube = await ok("tube.load", { path: "crash.yaml", mirror: false });
    const init = await ok("runner.init", { tube_id: tube.tube_id, runner: "local", track: { project: "RPC Experiments" } });
    const uuid = init.track.run_uuid as string;
    expect((await ok("tracking.runs.get", { uuid })).name).toMatch(/^[a-z]+_[a-z]+_\d+$/);
    let failed = false;
    for (let i = 0; i < 4 && !failed; i++) failed = (await raw.call("runner.process", { runner_id: init.runner_id })).error !== undefined;
    expect(failed).toBe(true);
    await ok("runner.deinit", { runner_id: init.runner_id });
    await until(async () => (await ok("tracking.runs.get", { uuid })).status === "CRASHED", 5000, "the run to be CRASHED");
  });
});
