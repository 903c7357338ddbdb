/**
 * Hostile input on the sockets of a live run: each case is a finding of the
 * hostile-input review reproduced exactly, then the run is checked to still
 * give the right values (or to fail loudly where it must).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import * as zmq from "zeromq";
import { Client } from "zeromq/lib/draft.js";
import { useZmqRunners } from "../helpers/zmq-runners.ts";
import { until } from "../helpers/until.ts";
import { stopChild } from "../helpers/processes.ts";
import { projectRoot } from "../helpers/acceptance.ts";
import type { ZmqRunner } from "../../src/runner/zmq/zmq-runner.ts";
import { Codec } from "../../src/protocol/codec.ts";
import { makeMessage, type Message } from "../../src/protocol/message.ts";

const chain = {
  noob_id: "hostile",
  nodes: {
    a: { type: "count" },
    scale: { type: "multiply", depends: [{ left: "a.index" }], params: { right: 2 } },
    return: { type: "return", depends: "scale.value" },
  },
};

const started = useZmqRunners();

/** The command inbox of an ipc run (what any process of the same user can reach). */
function inboxOf(runner: ZmqRunner): string {
  return `ipc://${inboxPath(runner)}`;
}

/** A CLIENT of our own (the inbox's peer type) on the run's command inbox, closed after `body`. */
async function withClient(endpoint: string, body: (d: Client) => Promise<void>): Promise<void> {
  const d = new Client({ linger: 0 });
  d.connect(endpoint);
  try {
    await body(d);
  } finally {
    d.close();
  }
}

async function epochs(runner: ZmqRunner, n: number): Promise<unknown[]> {
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) out.push(await runner.process());
  return out;
}

describe("zmq runner - hostile input on a live run", { timeout: 90_000 }, () => {
  it("the 20-byte record definition sent to the command inbox is dropped; the run goes on with the right values", async () => {
    const runner = await started(chain, { processes: "per-node" });
    expect(await epochs(runner, 2)).toEqual([0, 2]);
    await withClient(inboxOf(runner), async (d) => {
      await d.send(Buffer.from("9501a470696e67a17800d4724092a161a1620102", "hex"));
      await until(() => runner.stats().drops.garbage >= 1, 5000, "the drop to be counted");
    });
    expect(await epochs(runner, 3)).toEqual([4, 6, 8]);
  });
});

/** Runs a fixture script (from its own process, so its memory is not the driver's) to its end; its stdout. */
async function runScript(script: string, args: string[]): Promise<string> {
  const child = spawn(process.execPath, [path.join(projectRoot, script), ...args], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
  expect(code).toBe(0);
  return out;
}

async function sendFrames(endpoint: string, kind: "client" | "xsub", frames: number, bytes: number, messages: number): Promise<void> {
  expect(await runScript("test/fixtures/drivers/send-frames.mjs", [endpoint, kind, String(frames), String(bytes), String(messages)])).toContain("sent");
}

function inboxPath(runner: ZmqRunner): string {
  return path.join(runner.runDirectory!, "command-inbox.sock");
}

/** Resident memory of a process, in MiB (Linux). */
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m![1]) / 1024;
}

const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) await stopChild(c);
});

describe("zmq runner - size limits on every socket", { timeout: 90_000 }, () => {
  it("a 200 MB message to a runner's outbox is refused at the wire: the runner stays small and the run right", async () => {
    const runner = await started(chain, { processes: "per-node" });
    const pid = runner.pids().scale!;
    expect(await epochs(runner, 1)).toEqual([0]);
    await sendFrames(`ipc://${path.join(runner.runDirectory!, "runner-scale.sock")}`, "xsub", 1, 200 * 1024 * 1024, 1);
    expect(rssMiB(pid)).toBeLessThan(150);
    expect(await epochs(runner, 3)).toEqual([2, 4, 6]);
    expect(rssMiB(pid)).toBeLessThan(150);
  });

  it("messages of several frames to a runner's outbox are dropped there, and the runner reports them to the driver", async () => {
    const runner = await started(chain, { processes: "per-node" });
    expect(await epochs(runner, 1)).toEqual([0]);
    expect(runner.stats().runners.scale!.drops).toBeUndefined();
    await sendFrames(`ipc://${path.join(runner.runDirectory!, "runner-scale.sock")}`, "xsub", 3, 10, 2);
    await until(() => (runner.stats().runners.scale!.drops?.frames ?? 0) >= 2, 10_000, "the runner of scale to report two dropped messages");
    expect(runner.stats().runners.scale!.drops).toMatchObject({ frames: 2, schema: 0, garbage: 0 });
    expect(runner.stats().drops.frames).toBe(0);
    expect(await epochs(runner, 3)).toEqual([2, 4, 6]);
  });

  it("three messages of 1,000,000 one-byte frames to the command inbox are dropped unread; the run goes on", async () => {
    const runner = await started(chain, { processes: "per-node" });
    expect(await epochs(runner, 1)).toEqual([0]);
    const before = process.memoryUsage().rss;
    // Hand-made ZMTP, as CLIENT (the inbox's own peer type): libzmq's SERVER drops multi-part messages.
    const out = await runScript("test/fixtures/drivers/zmtp-flood.mjs", [inboxPath(runner), "CLIENT", "1000000", "3"]);
    expect(out).toContain("handshake");
    expect(out).toContain("sent");
    expect(await epochs(runner, 3)).toEqual([2, 4, 6]);
    // As DEALER: refused at the handshake (a SERVER takes CLIENT peers only), nothing delivered.
    const asDealer = await runScript("test/fixtures/drivers/zmtp-flood.mjs", [inboxPath(runner), "DEALER", "1000000", "1"]);
    expect(asDealer).not.toContain("handshake");
    expect(await epochs(runner, 2)).toEqual([8, 10]);
    expect(runner.state).toBe("ready");
    expect((process.memoryUsage().rss - before) / 2 ** 20).toBeLessThan(200);
  });

  it("a 200 MB frame to the command inbox is refused before it is read into memory", async () => {
    const runner = await started(chain, { processes: "per-node" });
    expect(await epochs(runner, 1)).toEqual([0]);
    const before = process.memoryUsage().rss;
    await sendFrames(inboxOf(runner), "client", 1, 200 * 1024 * 1024, 1);
    expect(await epochs(runner, 3)).toEqual([2, 4, 6]);
    expect((process.memoryUsage().rss - before) / 2 ** 20).toBeLessThan(100);
  });
});

describe("zmq runner - identities cannot be taken over", { timeout: 90_000 }, () => {
  const codec = new Codec();
  const send = (c: Client, msg: Message) => c.send(codec.encode(msg)[0]!);
  const runId = (runner: ZmqRunner) => path.basename(runner.runDirectory!);
  const resources = { cpus: 1, memory_total: 1, memory_free: 1, load: [0, 0, 0], gpus: [] };

  /** Epochs for at least `ms` (several heartbeat timeouts): a runner wrongly cut off would fail them. */
  async function epochsFor(runner: ZmqRunner, ms: number): Promise<unknown[]> {
    const t0 = Date.now();
    const out: unknown[] = [];
    while (Date.now() - t0 < ms) out.push(await runner.process());
    return out;
  }
  const doubled = (values: unknown[], from: number) => values.every((v, i) => v === 2 * (from + i));

  it("a DEALER with routing id 'scale' cannot connect to the command inbox; the real runner 'scale' is not cut off", async () => {
    const runner = await started(chain, { processes: "per-node" });
    expect(await epochs(runner, 1)).toEqual([0]);
    const out = await runScript("test/fixtures/drivers/zmtp-flood.mjs", [inboxPath(runner), "DEALER", "1", "1"]);
    expect(out).not.toContain("handshake");
    const dealer = new zmq.Dealer({ routingId: "scale", linger: 0 });
    dealer.connect(inboxOf(runner));
    await dealer.send(codec.encode(makeMessage("heartbeat", "scale", { status: "ready" }))).catch(() => undefined);
    const values = await epochsFor(runner, 2500);
    dealer.close();
    expect(doubled(values, 1)).toBe(true);
    expect(runner.state).toBe("ready");
  });

  it("a forged identify, status and error for 'scale' from another connection are dropped; the run goes on right", async () => {
    const runner = await started(chain, { processes: "per-node" });
    expect(await epochs(runner, 1)).toEqual([0]);
    const before = runner.stats().drops.schema;
    await withClient(inboxOf(runner), async (c) => {
      const identity = { node_id: "scale", outbox: "ipc:///tmp/elsewhere.sock", status: "ready" as const, signals: null, slots: null, subscribed_to: [], subscribers: [], pid: 1 };
      await send(c, makeMessage("identify", "scale", identity));
      await send(c, makeMessage("identify", "scale", { ...identity, token: "not-the-run-token" }));
      await send(c, makeMessage("status", "scale", { status: "closed" }));
      await send(c, makeMessage("error", "scale", { err_type: "Forged", message: "Forged", traceback: "", node_id: "scale", epoch: 1 }));
      await send(c, makeMessage("error", "scale", { err_type: "Forged", message: "Forged", traceback: "", node_id: "scale" }));
      await until(() => runner.stats().drops.schema >= before + 5, 5000, "five refused messages");
    });
    const values = await epochsFor(runner, 2500);
    expect(doubled(values, 1)).toBe(true);
    expect(runner.state).toBe("ready");
  });

  it("host_hello naming 'driver' and a forged runner_exit are refused on a run without host agents", async () => {
    const runner = await started(chain, { processes: "per-node" });
    expect(await epochs(runner, 1)).toEqual([0]);
    const before = runner.stats().drops.schema;
    await withClient(inboxOf(runner), async (c) => {
      await send(c, makeMessage("host_hello", "host:driver", { name: "driver", labels: [], resources, pid: 1, runners: [] }));
      await send(c, makeMessage("runner_exit", "host:driver", { run_id: runId(runner), runner_id: "scale", pid: 1, code: 1, signal: null, restarting: false, restarts: 0 }));
      await until(() => runner.stats().drops.schema >= before + 2, 5000, "two refused messages");
    });
    // Long enough for a host heartbeat timeout (2 s) had the forged host been taken.
    const values = await epochsFor(runner, 3000);
    expect(doubled(values, 1)).toBe(true);
    expect(runner.state).toBe("ready");
    expect(runner.status().hosts).toEqual({});
  });
});
