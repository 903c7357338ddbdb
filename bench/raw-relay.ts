/**
 * The raw ZeroMQ figure for latency: a message relayed driver -> r1 -> r2 ->
 * r3 -> driver by plain zeromq.js PUB/SUB in four processes, the same hops as
 * a process() round trip on chain3. Used by chain3-process-latency.bench.ts.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import * as zmq from "zeromq";
import { RunDir } from "../src/transport/address.ts";

async function relay(from: string, to: string): Promise<void> {
  const pub = new zmq.Publisher({ linger: 0 });
  await pub.bind(to);
  const sub = new zmq.Subscriber({ linger: 0 });
  sub.connect(from);
  sub.subscribe();
  process.on("SIGTERM", () => process.exit(0));
  for await (const m of sub) await pub.send(m);
}

/** p50 and p99 (ms) of `n` round trips through `relays` relay processes. */
export async function rawRelayLatency(n: number, relays = 3): Promise<{ p50: number; p99: number }> {
  const dir = await RunDir.create({ prefix: "tubular-relay-" });
  const addr = (i: number) => dir.ipc(`relay-${i}`);
  const self = fileURLToPath(import.meta.url);
  const pub = new zmq.Publisher({ linger: 0 });
  await pub.bind(addr(0));
  const kids = Array.from({ length: relays }, (_, i) => spawn(process.execPath, ["--import", "tsx", self, "--relay", addr(i), addr(i + 1)], { stdio: "ignore" }));
  const sub = new zmq.Subscriber({ linger: 0 });
  sub.connect(addr(relays));
  sub.subscribe();
  try {
    // Until a message makes it round, the relays are still starting: keep pinging.
    const first = sub.receive();
    let arrived = false;
    void first.then(() => (arrived = true));
    while (!arrived) {
      await pub.send(["x", "ping"]);
      await new Promise((r) => setTimeout(r, 50));
    }
    // Drain the pings still on their way.
    await new Promise((r) => setTimeout(r, 200));
    sub.receiveTimeout = 0;
    for (;;) {
      try {
        await sub.receive();
      } catch {
        break;
      }
    }
    sub.receiveTimeout = -1;
    for (let i = 0; i < 500; i++) {
      await pub.send(["x", "warm"]);
      await sub.receive();
    }
    const lat: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await pub.send(["x", "payload"]);
      await sub.receive();
      lat.push(performance.now() - t);
    }
    lat.sort((a, b) => a - b);
    return { p50: lat[Math.floor(n / 2)]!, p99: lat[Math.floor(n * 0.99)]! };
  } finally {
    for (const k of kids) k.kill("SIGTERM");
    pub.close();
    sub.close();
    await dir.cleanup();
  }
}

if (process.argv[2] === "--relay") await relay(process.argv[3]!, process.argv[4]!);
