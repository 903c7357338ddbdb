/**
 * Fuzz: a live bridge in its own process, driven by many hostile sessions at
 * once: sequences of calls to every method (and unknown ones) with arbitrary
 * params, graphs built and mutated from the built-in nodes, ids from earlier
 * replies or made up, batches, garbage text, clients that do or do not answer
 * the mirror. Every request gets exactly one valid reply in bounded time (or
 * the server closes that connection for abuse, 1008/1009); meanwhile a
 * well-behaved client runs x -> x*x in a loop and always gets the right value;
 * the server never exits and stays under the RSS bound.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Raw } from "../integration/bridge-raw.ts";
import { bridgeProcess, FUZZ_KEY, rpcUrl, wellBehaved, type BridgeReady } from "./bridge-served.ts";
import type { Served } from "./child-process.ts";
import { fuzzParams, fuzzTimeout, RSS_BOUND_BYTES } from "./fuzz-config.ts";

const REPLY_TIMEOUT_MS = 10_000;

let served: Served<BridgeReady>;
// Starting a process through tsx takes seconds on a loaded machine.
beforeAll(async () => {
  served = await bridgeProcess({ deadPeerMs: 5000, sessionGraceMs: 300, mirrorTimeoutMs: 500, heartbeatIntervalMs: 500 });
}, 90_000);
afterAll(() => served?.stop());

// ---- graphs: a pool of valid ones, and mutations of them from the built-in nodes (no sleep or rpc: those wait by design)
const TYPES = ["count", "cycle", "sporadic", "add", "multiply", "divide", "sum", "concat", "exclaim", "dictify", "return", "gather", "nosuch"] as const;
const valid = [
  { input: { x: { scope: "process", type: "number" } }, nodes: { d: { type: "multiply", depends: [{ left: "input.x" }, { right: "input.x" }] }, out: { type: "return", depends: "d.value" } } },
  {
    input: { text: { scope: "process", type: "string" }, hype: { scope: "process", type: "number" }, items: { scope: "process" } },
    nodes: {
      loud: { type: "exclaim", depends: [{ value: "input.text" }, { hype: "input.hype" }] },
      joined: { type: "concat", params: { sep: "é".repeat(500) }, depends: [{ items: "input.items" }] },
      out: { type: "return", depends: [{ loud: "loud.value" }, { joined: "joined.value" }] },
    },
  },
  { nodes: { c: { type: "count" }, s: { type: "sleep", params: { ms: 5 }, depends: [{ value: "c.index" }] }, out: { type: "return", depends: "s.value" } } },
  { input: { d: { scope: "process", type: "number" } }, nodes: { div: { type: "divide", params: { numerator: 1 }, depends: [{ denominator: "input.d" }] }, out: { type: "return", depends: "div.value" } } },
];
const json = fc.jsonValue({ maxDepth: 2 });
const mutatedGraph = fc
  .record({
    base: fc.constantFrom(...valid.map((_, i) => i)),
    node: fc.string({ maxLength: 6 }),
    type: fc.constantFrom(...TYPES),
    params: fc.oneof(fc.constant(undefined), fc.dictionary(fc.constantFrom("sep", "values", "every", "start", "step", "numerator", "x"), json, { maxKeys: 3 })),
    depends: fc.oneof(fc.constant(undefined), json, fc.constantFrom("out.value", "input.x", "c.index", "d.value")),
  })
  .map(({ base, node, type, params, depends }) => {
    const g = structuredClone(valid[base]!) as { nodes: Record<string, unknown> };
    g.nodes[node || "n"] = { type, ...(params ? { params } : {}), ...(depends !== undefined ? { depends } : {}) };
    return g;
  });
const graph = fc.oneof(fc.constantFrom(...valid), mutatedGraph, json);

// ---- params: ids are taken from earlier replies ("$tube", "$runner", "$sub") or made up
type Call = { method: string; params: unknown };
const idRef = fc.oneof(fc.constantFrom("$tube", "$runner", "$sub", "$tube", "$runner"), fc.string({ maxLength: 20 }), fc.integer());
const input = fc.oneof(
  { weight: 4, arbitrary: fc.record({ x: fc.integer({ min: -1000, max: 1000 }) }) },
  fc.record({ x: fc.oneof(fc.integer({ min: -1000, max: 1000 }), json) }, { requiredKeys: [] }),
  fc.record({ text: fc.string({ maxLength: 30 }), hype: fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.constantFrom(1e8, -1, 1.5)), items: fc.array(fc.integer(), { maxLength: 1200 }) }),
  fc.record({ d: fc.oneof(fc.constant(0), fc.integer()) }),
  json,
);
const params = fc.record(
  {
    tube_id: idRef,
    runner_id: idRef,
    subscription_id: idRef,
    graph,
    path: fc.constantFrom("../../etc/passwd", "x.yaml", "/etc/hostname"),
    input,
    mirror: fc.boolean(),
    runner: fc.oneof(fc.constant("local"), fc.constant("local"), fc.constantFrom("gpu", 5)),
    options: fc.oneof(fc.constant({}), fc.record({ maxInFlight: fc.oneof(fc.integer({ min: 1, max: 8 }), json) }, { requiredKeys: [] }), json),
    n: fc.oneof(fc.integer({ min: 1, max: 30 }), fc.constantFrom(0, -1, 1e9, 2.5, 10_000)),
    nodes: fc.array(fc.constantFrom("c", "d", "loud", "out", "zz"), { maxLength: 3 }),
    signals: fc.array(fc.constantFrom("value", "index", "zz"), { maxLength: 2 }),
    as: fc.constantFrom("events", "variables", "other"),
    interval_ms: fc.oneof(fc.constant(10), fc.integer({ min: -5, max: 200 })),
    names: fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }),
    run_uuid: fc.oneof({ weight: 4, arbitrary: fc.uuid() }, fc.constant(null), json),
  },
  { requiredKeys: [] },
);
const METHODS = ["tube.load", "tube.unload", "runner.init", "runner.process", "runner.run", "run_function", "runner.start", "runner.stop", "runner.status", "runner.deinit", "events.subscribe", "events.unsubscribe", "callables.register", "callables.unregister", "session.info", "rpc.discover", "callables.invoke", "no.such", "create_node"];
/** Params shaped for each method (ids from earlier replies), so calls reach the real work; junk params are mixed in below. */
const runner = fc.constant("$runner");
const shaped: Record<string, fc.Arbitrary<Record<string, unknown>>> = {
  "tube.load": fc.record({ graph, mirror: fc.boolean(), input: fc.oneof(fc.constant(undefined), input) }, { requiredKeys: ["graph"] }),
  "tube.unload": fc.record({ tube_id: idRef }),
  "runner.init": fc.record({ tube_id: fc.constant("$tube"), runner: params.map((p) => p.runner ?? "local"), options: fc.oneof(fc.constant({}), fc.record({ maxInFlight: fc.integer({ min: 1, max: 8 }) })) }, { requiredKeys: ["tube_id"] }),
  "runner.process": fc.record({ runner_id: runner, input }),
  "runner.run": fc.record({ runner_id: runner, n: fc.integer({ min: 1, max: 30 }) }),
  run_function: fc.oneof(fc.record({ runner_id: runner, input }), fc.record({ runner_id: runner, n: fc.integer({ min: 1, max: 30 }) })),
  "runner.start": fc.record({ runner_id: runner, n: fc.integer({ min: 1, max: 50 }) }, { requiredKeys: ["runner_id"] }),
  "runner.stop": fc.record({ runner_id: runner }),
  "runner.status": fc.record({ runner_id: runner }),
  "runner.deinit": fc.record({ runner_id: runner }),
  "events.subscribe": fc.record(
    { runner_id: runner, nodes: params.map((p) => p.nodes ?? ["d"]), as: fc.constantFrom("events", "variables"), interval_ms: fc.integer({ min: 10, max: 100 }) },
    { requiredKeys: ["runner_id"] },
  ),
  "events.unsubscribe": fc.record({ subscription_id: fc.constant("$sub") }),
  "callables.register": fc.record({ names: fc.array(fc.string({ minLength: 1, maxLength: 10 }), { minLength: 1, maxLength: 3 }) }),
};
const shapedCall = fc
  .constantFrom(...Object.keys(shaped))
  .chain((method) => fc.tuple(fc.constant(method), shaped[method]!, fc.oneof(fc.constant({}), fc.constant({}), fc.constant({}), params)))
  .map(([method, p, extra]) => ({ method, params: { ...extra, ...p } }));
const junkCall = fc.record({ method: fc.oneof({ weight: 9, arbitrary: fc.constantFrom(...METHODS) }, { weight: 1, arbitrary: fc.string({ maxLength: 50 }) }), params: fc.oneof({ weight: 9, arbitrary: params }, { weight: 1, arbitrary: json }) });
const call = fc.oneof({ weight: 3, arbitrary: shapedCall }, { weight: 2, arbitrary: junkCall });
/** Most sessions start the way a client does: a valid tube, a local runner. */
const prelude: Call[] = [
  { method: "tube.load", params: { graph: valid[0] } },
  { method: "runner.init", params: { tube_id: "$tube" } },
  { method: "runner.process", params: { runner_id: "$runner", input: { x: 4 } } },
  { method: "run_function", params: { runner_id: "$runner", input: { x: 5 }, run_uuid: "fuzz-run" } },
];
type Action = { kind: "call"; call: Call } | { kind: "notify"; call: Call } | { kind: "batch"; calls: Call[] } | { kind: "garbage"; text: string };
const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 8, arbitrary: call.map((c) => ({ kind: "call" as const, call: c })) },
  { weight: 1, arbitrary: call.map((c) => ({ kind: "notify" as const, call: c })) },
  { weight: 1, arbitrary: fc.array(call, { minLength: 1, maxLength: 8 }).map((calls) => ({ kind: "batch" as const, calls })) },
  { weight: 1, arbitrary: fc.oneof(fc.string({ maxLength: 100 }), fc.json({ maxDepth: 2 })).map((text) => ({ kind: "garbage" as const, text })) },
);
const session = fc
  .record({ answerMirror: fc.boolean(), prelude: fc.oneof(fc.constant(true), fc.constant(true), fc.constant(false)), actions: fc.array(action, { minLength: 1, maxLength: 10 }) })
  .map(({ answerMirror, prelude: p, actions }) => ({ answerMirror, actions: p ? [...prelude.map((c) => ({ kind: "call" as const, call: c })), ...actions] : actions }));

/** Replaces "$tube"/"$runner"/"$sub" anywhere in params by the ids the session got so far. */
function resolveIds(value: unknown, ids: Record<string, string | undefined>): unknown {
  if (typeof value === "string" && value in ids) return ids[value] ?? value;
  if (Array.isArray(value)) return value.map((v) => resolveIds(v, ids));
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveIds(v, ids)]));
  return value;
}

function isValidResponse(r: any): boolean {
  if (typeof r !== "object" || r === null || r.jsonrpc !== "2.0" || !("id" in r)) return false;
  if ("result" in r) return !("error" in r);
  return typeof r.error?.code === "number" && Number.isInteger(r.error.code) && typeof r.error.message === "string";
}

/** Replies per method, ok or error code: printed, so a run shows it reached the methods' real work, not only their refusals. */
const stats = new Map<string, Map<string, number>>();
function tally(method: string, outcome: string): void {
  const known = METHODS.includes(method) ? method : "(other)";
  let m = stats.get(known);
  if (!m) stats.set(known, (m = new Map()));
  m.set(outcome, (m.get(outcome) ?? 0) + 1);
}

async function runSession(s: { answerMirror: boolean; actions: Action[] }): Promise<void> {
  const raw = await Raw.open(rpcUrl(served.ready.port), FUZZ_KEY);
  if (s.answerMirror) raw.autoMirror();
  const ids: Record<string, string | undefined> = { $tube: undefined, $runner: undefined, $sub: undefined };
  let n = 0;
  const closedForAbuse = () => raw.closeCode === 1008 || raw.closeCode === 1009;
  try {
    await raw.next((f) => f.result?.session_id);
    for (const a of s.actions) {
      if (raw.closeCode !== undefined) break;
      if (a.kind === "garbage") {
        raw.send(a.text);
        continue;
      }
      if (a.kind === "notify") {
        raw.send({ jsonrpc: "2.0", method: a.call.method, params: resolveIds(a.call.params, ids) });
        continue;
      }
      const calls = a.kind === "call" ? [a.call] : a.calls;
      const msgs = calls.map((c) => ({ jsonrpc: "2.0", method: c.method, params: resolveIds(c.params, ids), id: `f${++n}` }));
      raw.send(a.kind === "call" ? msgs[0] : msgs);
      for (const m of msgs) {
        let reply: any;
        try {
          reply = await raw.next((f) => !Array.isArray(f) ? f.id === m.id && !("method" in f) : f.some((r: any) => r.id === m.id), REPLY_TIMEOUT_MS);
        } catch (err) {
          if (closedForAbuse()) return;
          throw new Error(`no reply to ${m.method} ${JSON.stringify(m.params).slice(0, 300)}: ${(err as Error).message.slice(0, 300)}`);
        }
        if (Array.isArray(reply)) {
          // A batch reply: take ours, leave the rest for the other ids.
          const mine = reply.find((r: any) => r.id === m.id);
          const rest = reply.filter((r: any) => r !== mine);
          if (rest.length > 0) raw.frames.unshift(rest);
          reply = mine;
        }
        expect(isValidResponse(reply), JSON.stringify(reply).slice(0, 300)).toBe(true);
        tally(m.method, "error" in reply ? String(reply.error.code) : "ok");
        const r = reply.result;
        if (r && typeof r === "object") {
          if (typeof r.tube_id === "string") ids.$tube = r.tube_id;
          if (typeof r.runner_id === "string") ids.$runner = r.runner_id;
          if (typeof r.subscription_id === "string") ids.$sub = r.subscription_id;
        }
      }
    }
  } finally {
    raw.close();
  }
}

describe("bridge live server fuzz", () => {
  it(
    "answers every request of many hostile sessions, keeps serving a well-behaved client right, never exits, stays bounded",
    async () => {
      // The bystander: x -> x*x in a loop for the whole run.
      let stop = false;
      let served_ = 0;
      const bystander = (async () => {
        while (!stop) {
          await wellBehaved(served.ready.port, [served_ % 50, 12]);
          served_++;
        }
      })();
      try {
        await fc.assert(
          fc.asyncProperty(fc.array(session, { minLength: 1, maxLength: 3 }), async (sessions) => {
            await Promise.all(sessions.map(runSession));
            expect(served.unexpectedExit(), served.stderr()).toBeUndefined();
            expect(served.peakRss()).toBeLessThan(RSS_BOUND_BYTES);
          }),
          fuzzParams(15),
        );
      } finally {
        stop = true;
        await bystander;
      }
      expect(served_).toBeGreaterThan(0);
      await wellBehaved(served.ready.port);
      expect(served.unexpectedExit()).toBeUndefined();
      expect(served.peakRss()).toBeLessThan(RSS_BOUND_BYTES);
      const table = [...stats].map(([m, o]) => `${m}: ${[...o].map(([k, v]) => `${k}=${v}`).join(" ")}`).join("\n  ");
      console.log(`bridge live server fuzz: peak RSS ${(served.peakRss() / 2 ** 20).toFixed(0)} MiB, bystander rounds ${served_}\n  ${table}`);
      // The fuzz must reach real work, not only refusals.
      for (const m of ["tube.load", "runner.init", "runner.process", "run_function"]) expect(stats.get(m)?.get("ok") ?? 0, m).toBeGreaterThan(0);
    },
    fuzzTimeout(120_000),
  );
});
