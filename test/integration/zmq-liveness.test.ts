/**
 * Liveness of runner processes: a node that computes for a long time without
 * yielding is not taken for dead (its runner heartbeats from its own thread),
 * while a runner process that really died is noticed within about a second.
 * The host cut off the network is in multihost.test.ts.
 */
import { rmSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Client } from "zeromq/lib/draft.js";
import { Codec } from "../../src/protocol/codec.ts";
import { makeMessage } from "../../src/protocol/message.ts";
import { projectRoot } from "../helpers/acceptance.ts";
import { RunnerDiedError } from "../../src/errors.ts";
import { useZmqRunners } from "../helpers/zmq-runners.ts";
import { isAlive, startHoldingDriver, waitForExit } from "../helpers/processes.ts";
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
// The machine may be loaded: liveness, not start-up, is what these tests time.
const slowStart = { initTimeoutMs: 60_000 } as const;

describe("zmq runner - liveness", () => {
  it("zmq liveness - a node computing 12 s without yielding (12x the death timeout) is not declared dead, and the run gives its value", async () => {
    const runner = await started(busy(12_000), { ...slowStart, processes: "per-node" });
    const errors: unknown[] = [];
    runner.on("error", (e) => errors.push(e));
    const pid = runner.pids().b!;
    const t0 = Date.now();
    expect(await runner.process()).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(12_000);
    // The same process, still counted as up, and the run is ready for more.
    expect(runner.pids().b).toBe(pid);
    expect(runner.status().nodes.b?.status).toBe("ready");
    expect(runner.state).toBe("ready");
    expect(errors).toEqual([]);
  }, 90_000);

  it("zmq liveness - the same over tcp with CurveZMQ: the heartbeat thread authenticates like the runner", async () => {
    const keys = generateKeyPair();
    const runner = await started(busy(3_000), { ...slowStart, processes: "per-node", transport: "tcp", keys });
    expect(await runner.process()).toBe(0);
    expect(runner.status().nodes.b?.status).toBe("ready");
    const auth = runner.stats().auth!;
    // The runners' control, outbox and heartbeat connections, all with the run's key.
    expect(auth.accepted).toBeGreaterThanOrEqual(6);
    expect(auth.refused).toBe(0);
  }, 90_000);

  it("zmq liveness - a runner killed with -9 with a long epoch in flight is noticed in under 1.5 s, naming its node", async () => {
    const runner = await started(busy(30_000), { ...slowStart, processes: "per-node" });
    const pending = runner.process();
    const pid = runner.pids().b!;
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

  it("zmq liveness - a runner frozen (SIGSTOP: process and heartbeat thread silent) is declared dead within a few seconds", async () => {
    const runner = await started(busy(0), { ...slowStart, processes: "per-node" });
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
      // The death timeout is 1 s; a check held up on a loaded machine counts the silence from then on (heartbeat.ts).
      expect(noticedMs).toBeLessThan(4000);
    } finally {
      process.kill(pid, "SIGCONT");
    }
  }, 60_000);

  it("zmq liveness - heartbeats without the run's token are refused and counted, and keep no runner alive", async () => {
    const runner = await started(busy(0), { ...slowStart, processes: "per-node" });
    expect(await runner.process()).toBe(0);
    const before = runner.stats().drops.schema ?? 0;
    const codec = new Codec();
    const forger = new Client({ linger: 0 });
    forger.connect(`ipc://${path.join(runner.runDirectory!, "command-inbox.sock")}`);
    try {
      await forger.send(codec.encode(makeMessage("heartbeat", "b", { status: "ready" }))[0]!);
      await forger.send(codec.encode(makeMessage("heartbeat", "b", { status: "ready", token: "not-the-run-token" }))[0]!);
      await forger.send(codec.encode(makeMessage("heartbeat", "nobody", { status: "ready" }))[0]!);
      await until(() => (runner.stats().drops.schema ?? 0) >= before + 3, 10_000, "three refused heartbeats");
      // The forger keeps sending for b while b is frozen: b is declared dead all the same.
      const pid = runner.pids().b!;
      const forging = setInterval(() => void forger.send(codec.encode(makeMessage("heartbeat", "b", { status: "ready" }))[0]!).catch(() => undefined), 100);
      process.kill(pid, "SIGSTOP");
      try {
        const err = (await runner.process().catch((e) => e)) as RunnerDiedError;
        expect(err).toBeInstanceOf(RunnerDiedError);
        expect(err.message).toMatch(/stopped answering heartbeats/);
      } finally {
        clearInterval(forging);
        process.kill(pid, "SIGCONT");
      }
    } finally {
      forger.close();
    }
  }, 60_000);

  it("zmq liveness - with the driver killed -9 while a node computes without yielding, its runner still exits by itself", async () => {
    const { driver, pids, runDirectory } = await startHoldingDriver(projectRoot, ["busy"]);
    expect(pids.length).toBe(2);
    driver.kill("SIGKILL");
    // The command's silence (3 s) tells the runner to go; its main thread is held by the node, so its heartbeat thread ends it (3 s more).
    const alive = await waitForExit(pids, 15_000);
    for (const pid of alive) process.kill(pid, "SIGKILL");
    rmSync(runDirectory, { recursive: true, force: true });
    expect(alive).toEqual([]);
  }, 90_000);
});
