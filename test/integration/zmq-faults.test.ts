import { existsSync, rmSync } from "node:fs";
import { describe, expect, it } from "vitest";
import * as zmq from "zeromq";
import { Client } from "zeromq/lib/draft.js";
import { loadTubeFromSpec } from "../../src/spec/load.ts";
import { ZmqRunner } from "../../src/runner/zmq/zmq-runner.ts";
import { NodeError, RunnerDiedError } from "../../src/errors.ts";
import { isAlive, startHoldingDriver, waitForExit } from "../helpers/processes.ts";
import { projectRoot } from "../helpers/acceptance.ts";
import { devNull, useZmqRunners } from "../helpers/zmq-runners.ts";
import { until } from "../helpers/until.ts";
import { generateKeyPair } from "../../src/transport/curve.ts";
import { PROTOCOL_VERSION } from "../../src/protocol/common.ts";

const chain = (middle: Record<string, unknown> = { type: "multiply", depends: [{ left: "a.index" }], params: { right: 2 } }) => ({
  noob_id: "chain",
  nodes: { a: { type: "count" }, b: middle, return: { type: "return", depends: "b.value" } },
});

const started = useZmqRunners();

describe("zmq runner - faults", () => {
  it("a node error rejects process() with the node id, epoch, type, message and remote stack; later epochs run", async () => {
    const runner = await started({
      noob_id: "err",
      nodes: {
        a: { type: "count", params: { start: 1, step: -1 } },
        b: { type: "divide", depends: [{ denominator: "a.index" }], params: { numerator: 6 } },
        return: { type: "return", depends: "b.value" },
      },
    });
    expect(await runner.process()).toBe(6);
    const err = (await runner.process().catch((e) => e)) as NodeError;
    expect(err).toBeInstanceOf(NodeError);
    expect(err.code).toBe("TUBULAR_ERR_NODE_FAILED");
    expect(err.nodeId).toBe("b");
    expect(err.epoch).toBe(1);
    expect(err.errorType).toBe("RangeError");
    expect(err.errorMessage).toContain("division by zero");
    expect(err.remoteStack).toContain("RangeError");
    expect(await runner.process()).toBe(-6);
  });

  it("a runner killed with -9 fails the pending process() within seconds, naming the node and how it died", async () => {
    const runner = await started(chain({ type: "sleep", depends: [{ value: "a.index" }], params: { ms: 60_000 } }), { processes: "per-node" });
    // The epoch is in flight from here: wherever it is, the death of b must fail it.
    const pending = runner.process();
    const t0 = Date.now();
    expect(runner.killRunner("b")).toBe(true);
    const err = (await pending.catch((e) => e)) as NodeError;
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(err.code).toBe("TUBULAR_ERR_RUNNER_DIED");
    expect(err).toBeInstanceOf(RunnerDiedError);
    expect((err as RunnerDiedError).nodeIds).toEqual(["b"]);
    expect(err.message).toContain("b");
    expect(err.message).toContain("SIGKILL");
    await expect(runner.process()).rejects.toThrow(/SIGKILL/);
    // The failure that ended the run is what closed() resolves with.
    expect(await runner.closed()).toBe(err);
  });

  it("a runner killed with -9 that may restart fails the epoch in flight, shows as restarting, and the run goes on with it", async () => {
    const runner = await started(chain({ type: "sleep", depends: [{ value: "a.index" }], params: { ms: 300 }, restart: "on-failure" }), { processes: "per-node" });
    expect(await runner.process()).toBe(0);
    const before = runner.pids().b!;
    const pending = runner.process();
    expect(runner.killRunner("b")).toBe(true);
    const err = (await pending.catch((e) => e)) as RunnerDiedError;
    expect(err).toBeInstanceOf(RunnerDiedError);
    expect(err.nodeIds).toEqual(["b"]);
    expect(err.message).toContain("being restarted");
    // The next call waits for the replacement, then runs on it.
    const next = await runner.process();
    expect(next).toBe(2);
    const b = runner.status().nodes.b!;
    expect(b.restarts).toBe(1);
    expect(b.status).toBe("ready");
    expect(b.pid).not.toBe(before);
    expect(runner.state).toBe("ready");
  });

  it("deinit leaves no runner process and no ipc file behind", async () => {
    const runner = await started(chain(), { processes: "per-node" });
    expect(await runner.process()).toBe(0);
    const pids = Object.values(runner.pids()) as number[];
    const dir = runner.runDirectory!;
    expect(pids.length).toBe(2);
    expect(existsSync(dir)).toBe(true);
    await runner.deinit();
    expect(pids.filter(isAlive)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });

  it("deinit after a runner died still cleans everything up", async () => {
    const runner = await started(chain(), { processes: "per-node" });
    const pids = Object.values(runner.pids()) as number[];
    const killed = runner.pids().a!;
    runner.killRunner("a");
    await until(() => !isAlive(killed), 5000, "runner a to die");
    await runner.deinit();
    expect(pids.filter(isAlive)).toEqual([]);
    expect(existsSync(runner.runDirectory ?? "/nonexistent")).toBe(false);
  });

  it("runners exit by themselves when the driver is killed with -9", async () => {
    const { driver, pids, runDirectory } = await startHoldingDriver(projectRoot);
    expect(pids.length).toBe(2);
    expect(pids.every(isAlive)).toBe(true);
    driver.kill("SIGKILL");
    const alive = await waitForExit(pids, 8000);
    for (const pid of alive) process.kill(pid, "SIGKILL");
    // A driver killed with -9 cannot remove its run directory: the test does.
    rmSync(runDirectory, { recursive: true, force: true });
    expect(alive).toEqual([]);
  });
});

describe("zmq runner - init", () => {
  const withNode = (type: string) => ({
    noob_id: "init",
    nodes: { a: { type: "count" }, b: { type, depends: [{ value: "a.index" }] }, return: { type: "return", depends: "b.value" } },
  });

  it("a node whose init throws fails init() with the node, and leaves no process behind", async () => {
    const runner = new ZmqRunner(await loadTubeFromSpec(withNode("./test/fixtures/nodes/init-faults.ts#throws"), { baseDir: projectRoot }), { output: devNull });
    const err = (await runner.init().catch((e) => e)) as NodeError;
    expect(err.code).toBe("TUBULAR_ERR_NODE_INIT");
    expect(err.nodeId).toBe("b");
    expect(err.message).toContain("no camera attached");
    expect(runner.state).toBe("failed");
    expect(Object.values(runner.pids()).filter((p) => p !== undefined && isAlive(p))).toEqual([]);
  });

  it("init() times out naming the nodes that are not ready", async () => {
    // Long enough for two processes to start on a loaded machine (3.5 s seen with the other core busy): the timeout must hit the hanging init, not start-up.
    const runner = new ZmqRunner(await loadTubeFromSpec(withNode("./test/fixtures/nodes/init-faults.ts#hangs"), { baseDir: projectRoot }), { output: devNull, initTimeoutMs: 10_000, processes: "per-node" });
    const err = (await runner.init().catch((e) => e)) as Error & { code: string };
    expect(err.code).toBe("TUBULAR_ERR_RUNNER_TIMEOUT");
    expect(err.message).toMatch(/nodes not ready: b \(/);
    expect(err.message).not.toMatch(/\ba \(/);
  });

  it("init() with several machines times out naming the host agents it waits for", async () => {
    const tube = await loadTubeFromSpec({ noob_id: "far", nodes: { a: { type: "count", host: "gpu9" }, b: { type: "count", labels: ["fpga"] }, return: { type: "return", depends: [{ a: "a.index" }, { b: "b.index" }] } } }, { baseDir: projectRoot });
    const runner = new ZmqRunner(tube, { listen: `tcp://127.0.0.1:${21_000 + (process.pid % 3000)}`, keys: generateKeyPair(), output: devNull, initTimeoutMs: 1500 });
    const err = (await runner.init().catch((e) => e)) as Error & { code: string };
    expect(err.code).toBe("TUBULAR_ERR_RUNNER_TIMEOUT");
    expect(err.message).toContain('host "gpu9" (for a)');
    expect(err.message).toContain("a host with labels fpga (for b)");
  });
});

describe("zmq runner - bad input", () => {
  it("garbage on the command inbox is dropped and counted while the graph's results stay right", async () => {
    const runner = await started(chain(), { maxMessageBytes: 1024 * 1024 });
    // The inbox is a SERVER: only CLIENT peers get a message through.
    const intruder = new Client({ linger: 0 });
    intruder.connect(`ipc://${runner.runDirectory}/command-inbox.sock`);
    const stranger = new Client({ linger: 0 });
    stranger.connect(`ipc://${runner.runDirectory}/command-inbox.sock`);
    const values: unknown[] = [];
    for (let i = 0; i < 20; i++) {
      await intruder.send(Buffer.from([0xc1, 0xff, 0x00, i])); // not msgpack
      await intruder.send(Buffer.from([0x95, PROTOCOL_VERSION, 0xa4, 0x6e, 0x6f, 0x70, 0x65, 0xa1, 0x62, 0x00, 0xc0])); // unknown type "nope"
      await intruder.send(Buffer.from([0x95, PROTOCOL_VERSION, 0xa6, ...Buffer.from("status"), 0xa1, 0x62, 0x00, 0x07])); // status with a wrong value
      await intruder.send(Buffer.from([0x95, 0x07, 0xa6, ...Buffer.from("status"), 0xa1, 0x62, 0x00, 0xc0])); // another protocol version
      await stranger.send(Buffer.from("hello"));
      values.push(await runner.process());
    }
    await intruder.send(Buffer.alloc(2 * 1024 * 1024, 1)); // over the frame limit: refused by libzmq or the codec
    values.push(await runner.process());
    expect(values).toEqual(Array.from({ length: 21 }, (_, i) => 2 * i));
    // The inbox and the events are different sockets: the last garbage may be read after the last epoch's events.
    const drops = await until(() => {
      const d = runner.stats().drops;
      return (d.unknown_type ?? 0) >= 20 && (d.version ?? 0) >= 20 ? d : undefined;
    }, 10_000, "20 unknown-type and 20 version drops");
    expect(drops.garbage).toBeGreaterThanOrEqual(20);
    expect(drops.unknown_type).toBe(20);
    expect(drops.schema).toBeGreaterThanOrEqual(20);
    expect(drops.version).toBe(20);
    intruder.close();
    stranger.close();
  });

  it("a flood of connections with untrusted keys does not stop a run over CurveZMQ", async () => {
    const port = 22_000 + (process.pid % 3000);
    const command = generateKeyPair();
    const runner = await started(chain(), { listen: `tcp://127.0.0.1:${port}`, keys: command });
    const flood: zmq.Dealer[] = [];
    const values: unknown[] = [];
    for (let i = 0; i < 20; i++) {
      for (let j = 0; j < 10; j++) {
        // The right server key, an untrusted client key: the ZAP handler refuses each.
        const stranger = generateKeyPair();
        const intruder = new zmq.Dealer({ linger: 0, curveServerKey: command.publicKey, curvePublicKey: stranger.publicKey, curveSecretKey: stranger.secretKey });
        intruder.connect(`tcp://127.0.0.1:${port}`);
        flood.push(intruder);
      }
      values.push(await runner.process());
    }
    expect(values).toEqual(Array.from({ length: 20 }, (_, i) => 2 * i));
    await until(() => (runner.stats().auth?.refused ?? 0) >= 100, 5000, "100 refused connections");
    expect(await runner.process()).toBe(40);
    for (const d of flood) d.close();
  });

  it("junk sent to a runner's outbox does not disturb it", async () => {
    const runner = await started(chain());
    const junk = new zmq.XSubscriber({ linger: 0 });
    junk.connect(`ipc://${runner.runDirectory}/runner-a.sock`);
    const values: unknown[] = [];
    for (let i = 0; i < 10; i++) {
      await junk.send([Buffer.from([0x01]), Buffer.from("two frames")]);
      await junk.send(Buffer.from([0x07, 0x01, 0x02]));
      await junk.send(Buffer.from([0x01, 0x00, ...Buffer.from("probe:")])); // a probe with an empty id
      await junk.send(Buffer.alloc(0));
      values.push(await runner.process());
    }
    expect(values).toEqual(Array.from({ length: 10 }, (_, i) => 2 * i));
    expect(Object.values(runner.pids()).every((pid) => pid !== undefined && isAlive(pid))).toBe(true);
    junk.close();
  });
});
