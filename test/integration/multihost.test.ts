/**
 * Several machines, as network namespaces joined on one segment: the driver
 * (this test process, on its own veth) and two host agents, each in its own
 * namespace, all over TCP with CurveZMQ.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadTubeFromSpec } from "../../src/spec/load.ts";
import { ZmqRunner } from "../../src/runner/zmq/zmq-runner.ts";
import { LocalRunner } from "../../src/runner/local.ts";
import { generateKeyPair, writeKeyPair, type CurveKeyPair } from "../../src/transport/curve.ts";
import type { EpochResult } from "../../src/runner/runner.ts";
import type { NodeError } from "../../src/errors.ts";
import { containsBytes, countPackets, startCapture, tcpdumpAvailable } from "../helpers/capture.ts";
import { createNetwork, netnsAvailable, type Network } from "../helpers/netns.ts";
import { projectRoot } from "../helpers/acceptance.ts";
import { isAlive, stopChild } from "../helpers/processes.ts";
import { devNull } from "../helpers/zmq-runners.ts";

const avail = await netnsAvailable();
const BIN = path.join(projectRoot, "bin/tubular.js");

describe.skipIf(!avail.ok)(`multi-host over network namespaces${avail.ok ? "" : ` (skipped: ${avail.reason})`}`, () => {
  let net: Network;
  let dir: string;
  const keys: Record<string, CurveKeyPair> = {};
  let port = 26_000 + (process.pid % 2000);
  const agents: ChildProcess[] = [];

  function startAgent(host: string, keyName = host, name = host): ChildProcess {
    const agent = net.exec(host, process.execPath, [BIN, "host", "--connect", `tcp://${net.hosts.driver!.ip}:${port}`, "--name", name, "--keys", path.join(dir, keyName), "--command-key", keys.command!.publicKey, "--advertise", net.hosts[host]!.ip, "--modules", projectRoot, "--log-level", "warn"]);
    agents.push(agent);
    return agent;
  }

  async function runner(nodes: Record<string, unknown>): Promise<ZmqRunner> {
    port += 1;
    const tube = await loadTubeFromSpec({ noob_id: "spread", nodes }, { baseDir: projectRoot });
    return new ZmqRunner(tube, { listen: `tcp://${net.hosts.driver!.ip}:${port}`, keys: keys.command!, trust: [keys.h1!.publicKey, keys.h2!.publicKey], output: devNull, initTimeoutMs: 30_000 });
  }

  /**
   * Runs `body` on a runner of the graph `nodes` once host agents h1 and h2 (and
   * the `more` agents) have joined; then deinitializes it and stops the agents.
   */
  async function withHosts(nodes: Record<string, unknown>, body: (r: ZmqRunner) => Promise<void>, more: () => ChildProcess[] = () => []): Promise<void> {
    const r = await runner(nodes);
    const init = r.init();
    const started = [startAgent("h1"), startAgent("h2"), ...more()];
    try {
      await init;
      await body(r);
    } finally {
      await r.deinit();
      await Promise.all(started.map((a) => stopChild(a)));
    }
  }

  /** Waits (bounded) until `done()` holds: the machine's load decides how long things take. */
  async function eventually(done: () => boolean, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done() && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
  }

  const spread = (restart = "never") => ({
    a: { type: "count", host: "h1" },
    b: { type: "multiply", depends: [{ left: "a.index" }], params: { right: 2 }, host: "h2", restart },
    c: { type: "add", depends: [{ left: "b.value" }], params: { right: 1 } },
    return: { type: "return", depends: "c.value" },
  });

  beforeAll(async () => {
    net = await createNetwork(["driver", "h1", "h2", "rogue"], { local: "driver" });
    dir = mkdtempSync(path.join(os.tmpdir(), "tubular-keys-"));
    for (const name of ["command", "h1", "h2", "rogue"]) {
      keys[name] = generateKeyPair();
      await writeKeyPair(path.join(dir, name), keys[name]!);
    }
  }, 60_000);

  afterAll(async () => {
    await Promise.all(agents.map((a) => stopChild(a)));
    await net?.destroy();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it("runs a graph spread over three machines, by process() and by free-run, with the values of one machine", async () => {
    await withHosts(spread(), async (r) => {
      const values = [];
      for (let i = 0; i < 5; i++) values.push(await r.process());
      expect(values).toEqual([1, 3, 5, 7, 9]);
      const results = await r.run(300);
      expect(results.map((x) => x.value)).toEqual(Array.from({ length: 300 }, (_, i) => 2 * (i + 5) + 1));
      const status = r.status();
      expect(status.nodes.a?.host).toBe("h1");
      expect(status.nodes.b?.host).toBe("h2");
      expect(status.nodes.c?.host).toBe("driver");
      expect(status.hosts.h1?.resources.cpus).toBeGreaterThan(0);
      expect(status.nodes.b?.epochs).toBe(305);
    });
  }, 90_000);

  it("assets on a remote host: the nodes sharing an asset run in one process there, and the run gives the in-process runner's values", async () => {
    const T = "./test/fixtures/nodes/shared.ts";
    const tube = await loadTubeFromSpec(
      {
        noob_id: "assets-remote",
        assets: {
          kept: { type: `${T}#openTally`, scope: "runner", params: { from: 10, label: "kept" }, depends: "second.tally" },
          perEpoch: { type: `${T}#openTally`, scope: "process", params: { from: 0, label: "epoch" } },
        },
        nodes: {
          first: { type: `${T}#take`, depends: [{ tally: "assets.kept" }], host: "h1" },
          second: { type: `${T}#take`, depends: [{ tally: "first.tally" }], params: { times: 2 }, host: "h1" },
          e1: { type: `${T}#take`, depends: [{ tally: "assets.perEpoch" }], host: "h1" },
          e2: { type: `${T}#take`, depends: [{ tally: "e1.tally" }], host: "h1" },
          a: { type: "count", host: "h2" },
          // Downstream of the asset's nodes, so in their process on h1, reading a from h2.
          sum: { type: "add", depends: [{ left: "a.index" }, { right: "second.taken" }] },
          r: { type: "return", depends: [{ first: "first.taken" }, { second: "second.taken" }, { e2: "e2.taken" }, { sum: "sum.value" }] },
        },
      },
      { baseDir: projectRoot },
    );
    const local = new LocalRunner(tube);
    await local.init();
    const expected = [];
    for (let i = 0; i < 4; i++) expected.push(await local.process());
    await local.deinit();
    expect(expected[3]).toEqual({ first: 19, second: 21, e2: 1, sum: 24 });
    port += 1;
    const r = new ZmqRunner(tube, { listen: `tcp://${net.hosts.driver!.ip}:${port}`, keys: keys.command!, trust: [keys.h1!.publicKey, keys.h2!.publicKey], output: devNull, initTimeoutMs: 30_000 });
    const init = r.init();
    const started = [startAgent("h1"), startAgent("h2")];
    try {
      await init;
      const got = [];
      for (let i = 0; i < 4; i++) got.push(await r.process());
      expect(got).toEqual(expected);
      const nodes = r.status().nodes;
      expect(["first", "second", "sum"].map((n) => nodes[n]!.host)).toEqual(["h1", "h1", "h1"]);
      expect(nodes.first!.runner).toBe(nodes.second!.runner);
      expect(nodes.a!.host).toBe("h2");
    } finally {
      await r.deinit();
      await Promise.all(started.map((a) => stopChild(a)));
    }
  }, 90_000);

  it("a host agent with an untrusted key is refused and injects nothing; nothing crosses the wire in clear", async () => {
    const marker = `MARKER-${Math.random().toString(36).slice(2)}-secret`;
    const graph = {
      a: { type: "cycle", params: { values: [marker] }, host: "h1" },
      b: { type: "exclaim", depends: [{ value: "a.value" }], host: "h2" },
      return: { type: "return", depends: "b.value" },
    };
    const capture = await startCapture(net, "bridge", { filter: "tcp" });
    let pcap: Buffer = Buffer.alloc(0);
    try {
      // The rogue claims to be h2, with a key the command does not trust.
      await withHosts(graph, async (r) => {
        for (let i = 0; i < 20; i++) expect(await r.process()).toBe(`${marker}!`);
        await r.run(200);
        const status = r.status();
        expect(Object.keys(status.hosts).sort()).toEqual(["h1", "h2"]);
        // The rogue starts as slowly as the others; wait for its first refused attempt.
        await eventually(() => (r.stats().auth?.refused ?? 0) > 0, 15_000);
        expect(r.stats().auth?.refused ?? 0).toBeGreaterThan(0);
        expect(Object.keys(r.status().hosts).sort()).toEqual(["h1", "h2"]);
        expect(await r.process()).toBe(`${marker}!`);
      }, () => [startAgent("rogue", "rogue", "h2")]);
    } finally {
      pcap = await capture.stop();
    }
    expect(countPackets(pcap)).toBeGreaterThan(50);
    expect(containsBytes(pcap, marker)).toBe(false);
  }, 90_000);

  it("a runner killed with -9 during free-run is restarted: the failed epochs are reported and no later epoch is lost", async () => {
    await withHosts(spread("on-failure"), async (r) => {
      const results: EpochResult[] = [];
      const failed: number[] = [];
      r.on("epoch", (e) => results.push(e));
      r.on("error", (e) => failed.push((e as NodeError).epoch as number));
      await r.start();
      await new Promise((res) => setTimeout(res, 500));
      const pid = r.status().nodes.b!.pid!;
      process.kill(pid, "SIGKILL");
      // Until the graph has gone on well past the failed epochs.
      await eventually(() => failed.length > 0 && results.filter((x) => x.epoch > Math.max(...failed)).length > 50, 20_000);
      await r.stop();
      expect(failed.length).toBeGreaterThan(0);
      const status = r.status();
      expect(status.nodes.b!.restarts).toBe(1);
      expect(status.nodes.b!.pid).not.toBe(pid);
      const after = results.filter((x) => x.epoch > Math.max(...failed));
      expect(after.length).toBeGreaterThan(10);
      expect(results.every((x) => x.value === 2 * x.epoch + 1)).toBe(true);
      const seen = new Set([...results.map((x) => x.epoch), ...failed]);
      const top = Math.max(...seen);
      expect([...Array(top + 1).keys()].filter((e) => !seen.has(e))).toEqual([]);
      expect(await r.process()).toBe(2 * (top + 1) + 1);
    });
  }, 90_000);

  it("a node on a host agent computing 3 s without yielding is not declared dead; its runner killed with -9 is noticed through its agent in under 1.5 s", async () => {
    const busy = {
      a: { type: "count", host: "h1" },
      // Resolved by the host from its own modules folder (--modules).
      b: { type: "./test/fixtures/nodes/busy.ts#spin", depends: [{ value: "a.index" }], params: { ms: 3000 }, host: "h2" },
      return: { type: "return", depends: "b.value" },
    };
    await withHosts(busy, async (r) => {
      // Three death timeouts in one call: the runner's heartbeat thread speaks for it, over CURVE, from another machine.
      expect(await r.process()).toBe(0);
      expect(r.status().nodes.b!.status).toBe("ready");
      const pid = r.status().nodes.b!.pid!;
      const pending = r.process();
      const t0 = Date.now();
      process.kill(pid, "SIGKILL");
      const err = (await pending.catch((e) => e)) as NodeError;
      const noticedMs = Date.now() - t0;
      expect(err.code).toBe("TUBULAR_ERR_RUNNER_DIED");
      // Its host agent's report, not the silence: it names the host and the signal.
      expect(err.message).toContain('on host "h2"');
      expect(err.message).toContain("SIGKILL");
      expect(noticedMs).toBeLessThan(1500);
    });
  }, 90_000);

  it("a host agent whose connection is cut makes process() fail cleanly, not hang", async () => {
    await withHosts(spread(), async (r) => {
      expect(await r.process()).toBe(1);
      const orphan = r.status().nodes.b!.pid!;
      await net.cutLink("h2");
      const t0 = Date.now();
      const hung = new Promise((res) => setTimeout(() => res(new Error("hung")), 15_000));
      const err = (await Promise.race([r.process().then(() => new Error("resolved")), hung]).catch((e) => e)) as NodeError;
      expect(err.code).toBe("TUBULAR_ERR_RUNNER_DIED");
      expect(err.message).toMatch(/b/);
      // Noticed within a few seconds: the runner's heartbeats stop (a second), and its host's (two).
      expect(Date.now() - t0).toBeLessThan(4_000);
      // Cut off, the host's runner is stopped (by its agent, or by itself): no orphan is left.
      await eventually(() => !isAlive(orphan), 10_000);
      expect(isAlive(orphan)).toBe(false);
      await net.restoreLink("h2");
    });
  }, 90_000);
});
