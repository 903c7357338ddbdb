/**
 * The bridge under load: `clients` concurrent TubularClients, each in its
 * own session with its own runner over a 3-node graph, each making `calls`
 * sequential `runner.process` calls over JSON-RPC/WebSocket. Measured
 * against direct `runner.process` calls on the same runner kind, with the
 * same concurrency, in the same run: the ratio is what the bridge costs.
 *
 *   npx tsx bench/bridge-rpc.bench.ts [--clients 100] [--calls 200] [--runner local|zmq]
 *
 * The default runner is local: 100 sessions with a ZeroMQ runner each would
 * be 300 node runner processes; with `--runner zmq` use a few clients.
 *
 * Prints one JSON line:
 * {"bench":"bridge-rpc","value":<calls/s>,"unit":"calls/s","p50_ms","p99_ms","errors","ratio_to_direct",...}
 */
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { BridgeServer } from "../src/bridge/server.ts";
import { TubularClient } from "../src/bridge/client.ts";
import { createRunner } from "../src/bridge/runners.ts";
import { loadTubeFromSpec } from "../src/spec/load.ts";
import type { Runner } from "../src/runner/runner.ts";
import { THREE_NODES } from "../test/fixtures/bridge-graphs.ts";

export interface BridgeRpcOptions {
  clients?: number;
  calls?: number;
  runner?: "local" | "zmq";
}

export interface BridgeRpcResult {
  bench: "bridge-rpc";
  value: number;
  unit: "calls/s";
  p50_ms: number;
  p99_ms: number;
  errors: number;
  ratio_to_direct: number;
  direct_calls_per_s: number;
  direct_p50_ms: number;
  direct_p99_ms: number;
  clients: number;
  calls_per_client: number;
  runner: "local" | "zmq";
}

const KEY = "bench-key";

const GRAPH = THREE_NODES;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

/** Runs `workers` loops of `calls` sequential calls each, at once; returns calls/s, latencies and errors. */
async function measure(workers: number, calls: number, call: (worker: number, i: number) => Promise<unknown>, check: (worker: number, i: number, v: unknown) => boolean) {
  const latencies: number[] = [];
  let errors = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      for (let i = 0; i < calls; i++) {
        const s = performance.now();
        try {
          const v = await call(w, i);
          if (!check(w, i, v)) errors++;
        } catch {
          errors++;
        }
        latencies.push(performance.now() - s);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return { callsPerS: (workers * calls) / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors };
}

const expected = (x: number) => x * x + x;

export async function runBridgeRpc(options: BridgeRpcOptions = {}): Promise<BridgeRpcResult> {
  const clients = options.clients ?? 100;
  const calls = options.calls ?? 200;
  const kind = options.runner ?? "local";

  // Direct: the same number of runners of the same kind, called with the same concurrency.
  const runners: Runner[] = [];
  for (let i = 0; i < clients; i++) {
    const tube = await loadTubeFromSpec(GRAPH, { baseDir: process.cwd() });
    const r = await createRunner(kind, tube, {});
    await r.init();
    runners.push(r);
  }
  const direct = await measure(
    clients,
    calls,
    (w, i) => runners[w]!.process({ x: i }),
    (_w, i, v) => v === expected(i),
  );
  await Promise.all(runners.map((r) => r.deinit()));

  // Over the bridge.
  const server = new BridgeServer({ logger: pino({ level: "silent" }) });
  const { url } = await server.start({ port: 0, apiKeys: [KEY], maxSessions: clients + 10 });
  const conns: Array<{ client: TubularClient; runner: string }> = [];
  await Promise.all(
    Array.from({ length: clients }, async () => {
      const client = new TubularClient(url, { reconnect: false });
      await client.connect(KEY, { retries: 3, delay: 0.2 });
      const t = (await client.call("tube.load", { graph: GRAPH, mirror: false })) as { tube_id: string };
      const r = (await client.call("runner.init", { tube_id: t.tube_id, runner: kind }, { timeout: 120 })) as { runner_id: string };
      conns.push({ client, runner: r.runner_id });
    }),
  );
  const bridged = await measure(
    clients,
    calls,
    (w, i) => conns[w]!.client.call("runner.process", { runner_id: conns[w]!.runner, input: { x: i } }),
    (_w, i, v) => (v as { value?: unknown })?.value === expected(i),
  );
  await Promise.all(conns.map((c) => c.client.close()));
  await server.close();

  return {
    bench: "bridge-rpc",
    value: Math.round(bridged.callsPerS),
    unit: "calls/s",
    p50_ms: round(bridged.p50),
    p99_ms: round(bridged.p99),
    errors: bridged.errors + direct.errors,
    ratio_to_direct: round(bridged.callsPerS / direct.callsPerS),
    direct_calls_per_s: Math.round(direct.callsPerS),
    direct_p50_ms: round(direct.p50),
    direct_p99_ms: round(direct.p99),
    clients,
    calls_per_client: calls,
    runner: kind,
  };
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const args = process.argv.slice(2);
  const opt = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const result = await runBridgeRpc({
    ...(opt("clients") ? { clients: Number(opt("clients")) } : {}),
    ...(opt("calls") ? { calls: Number(opt("calls")) } : {}),
    runner: opt("runner") === "zmq" ? "zmq" : "local",
  });
  // Exit only once the line is written: stdout to a pipe is asynchronous.
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(result.errors === 0 ? 0 : 1));
}
