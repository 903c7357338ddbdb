/**
 * Liveness of runner processes: a node that computes for a long time without
 * yielding is not taken for dead (its runner heartbeats from its own thread),
 * while a runner process that really died is noticed within about a second.
 * The host cut off the network is in multihost.test.ts.
 */
import { describe, expect, it } from "vitest";
import { RunnerDiedError } from "../../src/errors.ts";
import { useZmqRunners } from "../helpers/zmq-runners.ts";
import { isAlive } from "../helpers/processes.ts";
import { until } from "../helpers/until.ts";
import { generateKeyPair } from "../../src/transport/curve.ts";

const SPIN = "./test/fixtures/nodes/busy.ts#spin";

/** a counts 0, 1, 2...; b computes `ms` without yielding and doubles it; the return node gets b's value. */
const busy = (ms: number) => ({
  noob_id: "busy",
  nodes: {
    a: { type: "count" },
    b: { type: SPIN, depends: [{ value: "a.index" }], params: { ms } },
    return: { type: "return", depends: "b.value" },
  },
});

const started = useZmqRunners();

describe("zmq runner - liveness", () => {
  it("zmq liveness - a node computing 12 s without yielding (12x the death timeout) is not declared dead, and the run gives its value", async () => {
    const runner = await started(busy(12_000), { processes: "per-node" });
    const errors: unknown[] = [];
    runner.on("error", (e) => errors.push(e));
    const t0 = Date.now();
    expect(await runner.process()).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(12_000);
    // The runner is the same process, and the run goes on.
    const pid = runner.pids().b!;
    expect(await runner.process()).toBe(2);
    expect(runner.pids().b).toBe(pid);
    expect(errors).toEqual([]);
  }, 60_000);

  it("zmq liveness - the same over tcp with CurveZMQ: the heartbeat thread authenticates like the runner", async () => {
    const keys = generateKeyPair();
    const runner = await started(busy(3_000), { processes: "per-node", transport: "tcp", keys });
    expect(await runner.process()).toBe(0);
    expect(await runner.process()).toBe(2);
    expect(runner.stats().auth?.refused ?? 0).toBe(0);
  }, 60_000);

  it("zmq liveness - a runner killed with -9 while its node computes is noticed in under 1.5 s, naming its node", async () => {
    const runner = await started(busy(30_000), { processes: "per-node" });
    const pending = runner.process();
    const pid = runner.pids().b!;
    // Wait until b is computing (its epoch reached it): its main thread no longer answers anything.
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    process.kill(pid, "SIGKILL");
    const err = (await pending.catch((e) => e)) as RunnerDiedError;
    const noticedMs = Date.now() - t0;
    expect(err).toBeInstanceOf(RunnerDiedError);
    expect(err.nodeIds).toEqual(["b"]);
    expect(err.message).toContain("SIGKILL");
    expect(noticedMs).toBeLessThan(1500);
    expect(isAlive(pid)).toBe(false);
  }, 60_000);

  it("zmq liveness - a runner frozen (SIGSTOP: process and heartbeat thread silent) is declared dead within about a second", async () => {
    const runner = await started(busy(0), { processes: "per-node" });
    expect(await runner.process()).toBe(0);
    const pid = runner.pids().b!;
    const t0 = Date.now();
    process.kill(pid, "SIGSTOP");
    try {
      const err = (await runner.process().catch((e) => e)) as RunnerDiedError;
      const noticedMs = Date.now() - t0;
      expect(err).toBeInstanceOf(RunnerDiedError);
      expect(err.nodeIds).toEqual(["b"]);
      expect(err.message).toMatch(/stopped answering heartbeats/);
      expect(noticedMs).toBeLessThan(2500);
    } finally {
      process.kill(pid, "SIGCONT");
    }
  }, 60_000);
});
