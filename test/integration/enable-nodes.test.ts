/**
 * enableNode / disableNode on a loaded runner: one table of cases, run on the
 * in-process runner and on the ZeroMQ runner (one process per node, so every
 * switch crosses processes; and packed, the default).
 */
import { afterEach, describe, expect, it } from "vitest";
import type { Tube } from "../../src/graph/tube.ts";
import type { Runner } from "../../src/runner/runner.ts";
import { LocalRunner } from "../../src/runner/local.ts";
import { ZmqRunner } from "../../src/runner/zmq/zmq-runner.ts";
import { loadTubeFromSpec } from "../../src/spec/load.ts";
import { projectRoot } from "../helpers/acceptance.ts";
import { devNull } from "../helpers/zmq-runners.ts";
import { until } from "../helpers/until.ts";

type Make = (tube: Tube, opts?: { maxInFlight?: number }) => Runner;

const runners: Record<string, Make> = {
  local: (tube, opts = {}) => new LocalRunner(tube, opts),
  "zmq per-node": (tube, opts = {}) => new ZmqRunner(tube, { output: devNull, processes: "per-node", ...opts }),
  "zmq packed": (tube, opts = {}) => new ZmqRunner(tube, { output: devNull, ...opts }),
};

/** a counts 0, 1, 2, ...; b doubles; c adds one; r returns c. */
function chain(overrides: Record<string, Record<string, unknown>> = {}) {
  const nodes: Record<string, Record<string, unknown>> = {
    a: { type: "count" },
    b: { type: "multiply", depends: [{ left: "a.index" }], params: { right: 2 } },
    c: { type: "add", depends: [{ left: "b.value" }], params: { right: 1 } },
    r: { type: "return", depends: "c.value" },
  };
  for (const [id, o] of Object.entries(overrides)) nodes[id] = { ...nodes[id], ...o };
  return { nodes };
}

const open: Runner[] = [];
afterEach(async () => {
  for (const r of open.splice(0)) await r.deinit();
});

async function started(make: Make, spec: unknown, opts?: { maxInFlight?: number }): Promise<Runner> {
  const r = make(await loadTubeFromSpec(spec, { baseDir: projectRoot }), opts);
  open.push(r);
  await r.init();
  return r;
}

async function processN(r: Runner, n: number): Promise<unknown[]> {
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) out.push(await r.process());
  return out;
}

const cases: Array<[string, (make: Make) => Promise<void>]> = [
  [
    "a node disabled on a loaded runner is skipped with its dependants from the next epoch; enabled again it runs on",
    async (make) => {
      const r = await started(make, chain());
      expect(await processN(r, 2)).toEqual([1, 3]);
      await r.disableNode("b");
      expect(r.enabledNodes()).toEqual(["a", "c", "r"]);
      // The source goes on counting; b and c (which needs b) skip, so the epochs return nothing.
      expect(await processN(r, 2)).toEqual([null, null]);
      expect((await r.run(3)).map((x) => x.value)).toEqual([null, null, null]);
      await r.enableNode("b");
      expect(r.enabledNodes()).toEqual(["a", "b", "c", "r"]);
      expect(await processN(r, 2)).toEqual([2 * 7 + 1, 2 * 8 + 1]);
      expect((await r.run(2)).map((x) => x.value)).toEqual([2 * 9 + 1, 2 * 10 + 1]);
    },
  ],
  [
    "the return node disabled and enabled again: epochs return nothing meanwhile",
    async (make) => {
      const r = await started(make, chain());
      expect(await r.process()).toBe(1);
      await r.disableNode("r");
      expect((await r.run(2)).map((x) => x.value)).toEqual([null, null]);
      await r.enableNode("r");
      expect(await r.process()).toBe(2 * 3 + 1);
    },
  ],
  [
    "a node disabled in the graph file: its dependants skip (also in another process); enabling it creates it",
    async (make) => {
      const r = await started(make, chain({ b: { enabled: false } }));
      expect(r.enabledNodes()).toEqual(["a", "c", "r"]);
      expect(await processN(r, 2)).toEqual([null, null]);
      await r.enableNode("b");
      expect(await processN(r, 2)).toEqual([2 * 2 + 1, 2 * 3 + 1]);
      await r.disableNode("b");
      expect(await r.process()).toBeNull();
    },
  ],
  [
    "a node that cannot be created when enabled: enableNode rejects with its init error, it stays disabled, the run goes on",
    async (make) => {
      const r = await started(make, chain({ b: { type: "./test/fixtures/nodes/init-faults.ts#throws", depends: [{ value: "a.index" }], params: {}, enabled: false } }));
      expect(await r.process()).toBeNull();
      const err = await r.enableNode("b").then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: "TUBULAR_ERR_NODE_INIT", nodeId: "b" });
      expect(String((err as Error).message)).toContain("no camera attached");
      expect(r.enabledNodes()).toEqual(["a", "c", "r"]);
      expect(await r.process()).toBeNull();
    },
  ],
  [
    "a node the graph does not have, or a runner not initialized: a clear error",
    async (make) => {
      const r = await started(make, chain());
      await expect(r.disableNode("nope")).rejects.toMatchObject({ code: "TUBULAR_ERR_UNKNOWN_NODE", message: expect.stringContaining('"nope"') });
      await expect(r.enableNode("nope")).rejects.toMatchObject({ code: "TUBULAR_ERR_UNKNOWN_NODE" });
      expect(await r.process()).toBe(1);
      const fresh = make(await loadTubeFromSpec(chain(), { baseDir: projectRoot }));
      await expect(fresh.disableNode("b")).rejects.toMatchObject({ code: "TUBULAR_ERR_RUNNER_STATE" });
      await fresh.deinit();
      await r.deinit();
      await expect(r.enableNode("b")).rejects.toMatchObject({ code: "TUBULAR_ERR_RUNNER_STATE" });
    },
  ],
  [
    "disabled during free-run: epochs opened after the call returns nothing, and the run goes on",
    async (make) => {
      const window = 4;
      const r = await started(make, chain(), { maxInFlight: window });
      const results: Array<{ epoch: number; value: unknown }> = [];
      r.on("epoch", (e) => results.push(e));
      await r.start();
      await until(() => results.length >= 5, 60_000, "five epochs of free-run");
      await r.disableNode("b");
      // Every epoch opened after disableNode resolved lies beyond the last reported one plus the window.
      const lastBefore = Math.max(...results.map((e) => e.epoch));
      await until(() => results.some((e) => e.epoch > lastBefore + window + 5), 60_000, "epochs after the switch");
      await r.stop();
      expect(results.slice(0, 5).every((e) => typeof e.value === "number")).toBe(true);
      const after = results.filter((e) => e.epoch > lastBefore + window);
      expect(after.length).toBeGreaterThan(5);
      expect(after.every((e) => e.value === null)).toBe(true);
    },
  ],
];

for (const [name, make] of Object.entries(runners)) {
  describe(`enable and disable nodes - ${name} runner`, () => {
    for (const [title, body] of cases) it(title, () => body(make), 120_000);
  });
}

describe("enable and disable nodes - zmq runner: restarts, bounds", () => {
  it("a runner process restarted after a crash keeps the nodes disabled and enabled at run time", async () => {
    const make: Make = (tube) => new ZmqRunner(tube, { output: devNull, processes: "per-node" });
    const r = (await started(make, chain({ b: { restart: "on-failure" }, c: { restart: "on-failure", enabled: false } }))) as ZmqRunner;
    expect(await r.process()).toBeNull();
    await r.enableNode("c");
    await r.disableNode("b");
    expect(await r.process()).toBeNull();
    const pids = r.pids();
    expect(r.killRunner("b")).toBe(true);
    expect(r.killRunner("c")).toBe(true);
    await until(() => ["b", "c"].every((id) => r.status().nodes[id]!.status === "ready" && r.pids()[id] !== pids[id]), 60_000, "b and c restarted");
    // Still disabled: nothing reaches the return node.
    expect(await r.process()).toBeNull();
    await r.enableNode("b");
    // c was enabled at run time before the crash, so its new process created it: the chain gives a value.
    const v = await r.process();
    expect(typeof v).toBe("number");
    expect((v as number) % 2).toBe(1);
  }, 120_000);

  it("enabling a node whose creation never ends: the call is bounded, and deinit ends it at once", async () => {
    const make: Make = (tube) => new ZmqRunner(tube, { output: devNull, processes: "per-node", initTimeoutMs: 60_000 });
    const r = await started(make, chain({ b: { type: "./test/fixtures/nodes/init-faults.ts#hangs", depends: [{ value: "a.index" }], params: {}, enabled: false } }));
    const pending = r.enableNode("b").then(
      () => "resolved",
      (e: unknown) => e,
    );
    // The epochs go on meanwhile: b is not enabled until its runner says so.
    expect(await r.process()).toBeNull();
    const t0 = Date.now();
    await r.deinit();
    expect(await pending).toMatchObject({ code: "TUBULAR_ERR_RUNNER_STATE" });
    expect(Date.now() - t0).toBeLessThan(30_000);
  }, 120_000);
});
