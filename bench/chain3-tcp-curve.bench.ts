/**
 * chain3 over TCP with CurveZMQ: node a on host agent h1, b on h2, c on the
 * driver, between network namespaces (loopback where namespaces cannot be
 * made: not root, or no `ip`). Free-run epochs/s and process() p50/p99.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadTubeFromSpec } from "../src/spec/load.ts";
import { ZmqRunner } from "../src/runner/zmq/zmq-runner.ts";
import { generateKeyPair, writeKeyPair } from "../src/transport/curve.ts";
import { createNetwork, netnsAvailable, type Network } from "../test/helpers/netns.ts";
import { stopChild } from "../test/helpers/processes.ts";
import { arg, benchDir, emit, freeRunFor, percentile } from "./lib.ts";

const seconds = arg("seconds", 5);
const root = path.resolve(benchDir, "..");
const bin = path.join(root, "bin/tubular.js");
const dir = mkdtempSync(path.join(os.tmpdir(), "tubular-bench-keys-"));
const keys = { command: generateKeyPair(), h1: generateKeyPair(), h2: generateKeyPair() };
for (const [name, pair] of Object.entries(keys)) await writeKeyPair(path.join(dir, name), pair);

const avail = await netnsAvailable();
let net: Network | undefined;
if (avail.ok) net = await createNetwork(["driver", "h1", "h2"], { local: "driver" });
const ip = (name: string) => net?.hosts[name]!.ip ?? "127.0.0.1";
const port = 31_000 + (process.pid % 1000);
const agents: ChildProcess[] = [];
for (const name of ["h1", "h2"]) {
  const args = [bin, "host", "--connect", `tcp://${ip("driver")}:${port}`, "--name", name, "--keys", path.join(dir, name), "--command-key", keys.command.publicKey, "--advertise", ip(name), "--log-level", "error"];
  agents.push(net ? net.exec(name, process.execPath, args) : spawn(process.execPath, args, { stdio: "ignore" }));
}
const quiet = { write: () => true } as unknown as NodeJS.WritableStream;
const tube = await loadTubeFromSpec(
  {
    noob_id: "chain3-tcp",
    nodes: {
      a: { type: "count", host: "h1" },
      b: { type: "multiply", depends: [{ left: "a.index" }], params: { right: 2 }, host: "h2" },
      c: { type: "add", depends: [{ left: "b.value" }], params: { right: 1 } },
      return: { type: "return", depends: "c.value" },
    },
  },
  { baseDir: benchDir },
);
const runner = new ZmqRunner(tube, { listen: `tcp://${ip("driver")}:${port}`, keys: keys.command, trust: [keys.h1.publicKey, keys.h2.publicKey], output: quiet, initTimeoutMs: 30_000 });
try {
  await runner.init();
  const { epochs, elapsed } = await freeRunFor(runner, seconds, 2000);
  const rate = epochs / elapsed;
  const lat: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const t = performance.now();
    await runner.process();
    lat.push(performance.now() - t);
  }
  lat.sort((a, b) => a - b);
  const round = (x: number) => Math.round(x * 1000) / 1000;
  emit({ bench: "chain3-tcp-curve", value: Math.round(rate), unit: "epochs/s", p50_ms: round(percentile(lat, 0.5)), p99_ms: round(percentile(lat, 0.99)), network: net ? "namespaces" : `loopback (${avail.reason})`, curve: true });
} finally {
  await runner.deinit();
  await Promise.all(agents.map((a) => stopChild(a)));
  await net?.destroy();
  rmSync(dir, { recursive: true, force: true });
}
