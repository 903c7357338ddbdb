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
import { generateKeyPair, writeKeyPair, type CurveKeyPair } from "../../src/transport/curve.ts";
import type { EpochResult } from "../../src/runner/runner.ts";
import type { NodeError } from "../../src/errors.ts";
import { containsBytes, countPackets, startCapture, tcpdumpAvailable } from "../helpers/capture.ts";
import { createNetwork, netnsAvailable, type Network } from "../helpers/netns.ts";
import { projectRoot } from "../helpers/acceptance.ts";
import { isAlive, stopChild } from "../helpers/processes.ts";

const avail = await netnsAvailable();
const BIN = path.join(projectRoot, "bin/tubular.js");
const devNull = { write: () => true } as unknown as NodeJS.WritableStream;

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

  async function runner(nodes: Record<string, unknown>, extra: { restart?: boolean } = {}): Promise<ZmqRunner> {
    port += 1;
    const tube = await loadTubeFromSpec({ noob_id: "spread", nodes }, { baseDir: projectRoot });
    return new ZmqRunner(tube, { listen: `tcp://${net.hosts.driver!.ip}:${port}`, keys: keys.command!, trust: [keys.h1!.publicKey, keys.h2!.publicKey], output: devNull, initTimeoutMs: 30_000, ...(extra.restart ? {} : {}) });
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
    const r = await runner(spread());
    const init = r.init();
    const a1 = startAgent("h1");
    const a2 = startAgent("h2");
    try {
      await init;
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
    } finally {
      await r.deinit();
      await Promise.all([stopChild(a1), stopChild(a2)]);
    }
  }, 90_000);

  it("a host agent with an untrusted key is refused and injects nothing; nothing crosses the wire in clear", async () => {
    const marker = `MARKER-${Math.random().toString(36).slice(2)}-secret`;
    const r = await runner({
      a: { type: "cycle", params: { values: [marker] }, host: "h1" },
      b: { type: "exclaim", depends: [{ value: "a.value" }], host: "h2" },
      return: { type: "return", depends: "b.value" },
    });
    const capture = await startCapture(net, "bridge", { filter: "tcp" });
    let pcap: Buffer = Buffer.alloc(0);
    const init = r.init();
    const a1 = startAgent("h1");
    const a2 = startAgent("h2");
    // The rogue claims to be h2, with a key the command does not trust.
    const rogue = startAgent("rogue", "rogue", "h2");
    try {
      await init;
      for (let i = 0; i < 20; i++) expect(await r.process()).toBe(`${marker}!`);
      await r.run(200);
      const status = r.status();
      expect(Object.keys(status.hosts).sort()).toEqual(["h1", "h2"]);
      // The rogue starts as slowly as the others; wait (bounded) for its first refused attempt.
      const deadline = Date.now() + 15_000;
      while ((r.stats().auth?.refused ?? 0) === 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
      expect(r.stats().auth?.refused ?? 0).toBeGreaterThan(0);
      expect(Object.keys(r.status().hosts).sort()).toEqual(["h1", "h2"]);
      expect(await r.process()).toBe(`${marker}!`);
    } finally {
      await r.deinit();
      await Promise.all([a1, a2, rogue].map((a) => stopChild(a)));
      pcap = await capture.stop();
    }
    expect(countPackets(pcap)).toBeGreaterThan(50);
    expect(containsBytes(pcap, marker)).toBe(false);
  }, 90_000);

  it("a runner killed with -9 during free-run is restarted: the failed epochs are reported and no later epoch is lost", async () => {
    const r = await runner(spread("on-failure"));
    const init = r.init();
    const a1 = startAgent("h1");
    const a2 = startAgent("h2");
    try {
      await init;
      const results: EpochResult[] = [];
      const failed: number[] = [];
      r.on("epoch", (e) => results.push(e));
      r.on("error", (e) => failed.push((e as NodeError).epoch as number));
      await r.start();
      await new Promise((res) => setTimeout(res, 500));
      const pid = r.status().nodes.b!.pid!;
      process.kill(pid, "SIGKILL");
      // Wait (bounded) until the graph has gone on well past the failed epochs.
      const deadline = Date.now() + 20_000;
      const goneOn = () => failed.length > 0 && results.filter((x) => x.epoch > Math.max(...failed)).length > 50;
      while (!goneOn() && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
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
    } finally {
      await r.deinit();
      await Promise.all([stopChild(a1), stopChild(a2)]);
    }
  }, 90_000);

  it("a host agent whose connection is cut makes process() fail cleanly, not hang", async () => {
    const r = await runner(spread());
    const init = r.init();
    const a1 = startAgent("h1");
    const a2 = startAgent("h2");
    try {
      await init;
      expect(await r.process()).toBe(1);
      const orphan = r.status().nodes.b!.pid!;
      await net.cutLink("h2");
      const t0 = Date.now();
      const err = (await Promise.race([r.process().then(() => new Error("resolved")), ...Array.from({ length: 1 }, () => new Promise((res) => setTimeout(() => res(new Error("hung")), 15_000)))]).catch((e) => e)) as NodeError;
      expect(err.code).toBe("TUBULAR_ERR_RUNNER_DIED");
      expect(err.message).toMatch(/b/);
      expect(Date.now() - t0).toBeLessThan(10_000);
      // Cut off, the host's runner is stopped (by its agent, or by itself): no orphan is left.
      const deadline = Date.now() + 10_000;
      while (isAlive(orphan) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
      expect(isAlive(orphan)).toBe(false);
    } finally {
      await net.restoreLink("h2");
      await r.deinit();
      await Promise.all([stopChild(a1), stopChild(a2)]);
    }
  }, 90_000);
});
