/**
 * noob conformance: runs the graph files of a noob checkout
 * (packages/noob/tests/data/pipelines) unchanged on tubular's runners, with
 * noob's test node types mapped to ./noob_testing.ts, and checks the values
 * the pytest test of each case asserts (named after it). Run by hand, through
 * conformance.sh; the project's own tests cover the same points with graphs
 * of their own (test/unit/noob-format.test.ts, test/integration/noob-zmq.test.ts,
 * test/integration/enable-nodes.test.ts, test/integration/epoch-order.test.ts).
 *
 * Every case runs on each runner; a case that checks only loading runs once
 * per runner all the same, so the totals read "cases x runners".
 */
import assert from "node:assert/strict";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { existsSync } from "node:fs";
import type { Tube } from "../../src/graph/tube.ts";
import { epochToKey, type Epoch } from "../../src/graph/epoch.ts";
import type { TubeEvent } from "../../src/graph/event.ts";
import { LocalRunner } from "../../src/runner/local.ts";
import { ZmqRunner } from "../../src/runner/zmq/zmq-runner.ts";
import type { EpochRunner } from "../../src/runner/epoch-runner.ts";
import { loadSpec, loadTube } from "../../src/spec/load.ts";
import { TubeFinder } from "../../src/spec/tube-search.ts";
import { loadTypeMap, type TypeMap } from "../../src/spec/type-map.ts";
import { initializerLog } from "./noob_testing.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
type RunnerKind = "local" | "zmq";
const devNull = { write: () => true } as unknown as NodeJS.WritableStream;

interface Started {
  runner: EpochRunner;
  tube: Tube;
  /** Events by epoch key, node and signal, as noob's runner.store.events. */
  events: (epoch: Epoch, node: string, signal: string) => unknown[];
  all: TubeEvent[];
}

class Harness {
  private readonly open: EpochRunner[] = [];
  readonly warnings: string[] = [];
  constructor(
    readonly kind: RunnerKind,
    private readonly pipelines: string,
    private readonly typeMap: TypeMap,
    private readonly finder: TubeFinder,
  ) {}

  file(id: string): Promise<string> {
    return this.finder.find(id, [this.pipelines], "<conformance>", id);
  }

  async tube(id: string, input?: Record<string, unknown>): Promise<Tube> {
    return loadTube(await this.file(id), { typeMap: this.typeMap, tubePath: [this.pipelines], ...(input ? { input } : {}), onWarning: (m) => this.warnings.push(m) });
  }

  async start(id: string | Tube, input?: Record<string, unknown>): Promise<Started> {
    const tube = typeof id === "string" ? await this.tube(id, input) : id;
    const runner: EpochRunner = this.kind === "local" ? new LocalRunner(tube) : new ZmqRunner(tube, { output: process.env.CONFORMANCE_DEBUG ? process.stderr : devNull, initTimeoutMs: 90_000, commandTimeoutMs: 60_000 });
    this.open.push(runner);
    const all: TubeEvent[] = [];
    const store = new Map<string, unknown[]>();
    runner.on("event", (e) => {
      all.push(e);
      const k = `${epochToKey(e.epoch)}|${e.node_id}|${e.signal}`;
      store.set(k, [...(store.get(k) ?? []), e.value]);
    });
    await runner.init();
    return { runner, tube, all, events: (epoch, node, signal) => store.get(`${epochToKey(epoch)}|${node}|${signal}`) ?? [] };
  }

  async close(): Promise<void> {
    for (const r of this.open.splice(0)) await r.deinit().catch(() => undefined);
  }
}

async function rejects(p: Promise<unknown> | (() => Promise<unknown>), re?: RegExp): Promise<Error> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (err) {
    if (re) assert.match(String((err as Error).message), re);
    return err as Error;
  }
  throw new assert.AssertionError({ message: "expected an error" });
}

async function collect(it: AsyncIterable<unknown>): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const v of it) out.push(v);
  return out;
}

/** noob's run(n): the non-null values, or null when there are none. */
const runValues = (results: Array<{ value: unknown }>) => {
  const v = results.map((r) => r.value).filter((x) => x !== null);
  return v.length > 0 ? v : null;
};

const letters = "abcdefghijklmnopqrstuvwxyz";
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

type Case = [name: string, run: (h: Harness) => Promise<void>];

const cases: Case[] = [
  // ---- test_pipelines/test_basic.py ----
  ["test_basic.py::test_basic_process", async (h) => {
    const { runner } = await h.start("testing-basic");
    const out = [];
    for (let i = 0; i < 5; i++) out.push(await runner.process());
    assert.deepEqual(out, [0, 2, 4, 6, 8]);
  }],
  ["test_basic.py::test_basic_run", async (h) => {
    const { runner } = await h.start("testing-basic");
    assert.deepEqual(runValues(await runner.run(5)), [0, 2, 4, 6, 8]);
  }],
  ["test_basic.py::test_basic_iter", async (h) => {
    const { runner } = await h.start("testing-basic");
    assert.deepEqual(await collect(runner.iter(5)), [0, 2, 4, 6, 8]);
  }],
  ["test_basic.py::test_branch", async (h) => {
    const { runner } = await h.start("testing-branch");
    assert.deepEqual(await collect(runner.iter(5)), range(5).map((i) => ({ multiply: i * 2, divide: i / 5 })));
  }],
  ["test_basic.py::test_branch_switching", async (h) => {
    const { runner } = await h.start("testing-branch-switching");
    const expected = ["fruit", "vegetable", "mineral"];
    const keys = ["this", "that", "the_other"];
    for (let i = 0; i < 5; i++) {
      const value = (await runner.process()) as Record<string, any>;
      const e = expected[i % 3]!;
      assert.equal(Object.keys(value).length, 2);
      assert.ok(e in value);
      assert.ok(String(value[e]).endsWith("!"));
      assert.equal(value.this_or_that[keys[i % 3]!], value[e]);
    }
  }],
  ["test_basic.py::test_merge", async (h) => {
    const { runner } = await h.start("testing-merge");
    assert.deepEqual(await collect(runner.iter(5)), range(5).map((i) => (i * 2) / (i + 5)));
  }],
  ["test_basic.py::test_gather_n", async (h) => {
    const { runner } = await h.start("testing-gather-n");
    assert.deepEqual(await collect(runner.iter(5)), ["abcde", "fghij", "klmno", "pqrst", "uvwxy"].map((word) => ({ word })));
  }],
  ["test_basic.py::test_gather_dependent", async (h) => {
    const { runner } = await h.start("testing-gather-dependent");
    const values = (await collect(runner.iter(5))) as Array<Record<string, Record<string, unknown>>>;
    values.forEach((value, i) => {
      assert.equal(Object.keys(value).length, 1);
      const inner = Object.values(value.word!)[0];
      assert.deepEqual(inner, [3 * i, 3 * i + 1, 3 * i + 2]);
    });
  }],
  ["test_basic.py::test_multi_signal", async (h) => {
    const { runner } = await h.start("testing-multi-signal");
    for (const value of (await collect(runner.iter(5))) as Array<Record<string, any>>) {
      assert.equal(typeof value.word, "string");
      assert.equal(value.count_sum, (value.counts as number[]).reduce((a, b) => a + b, 0));
    }
  }],
  // ---- test_pipelines/test_async.py, test_runners/test_async.py ----
  ...(["test_async.py::test_async_in_sync", "test_async.py::test_async_in_async", "test_runners/test_async.py::test_async_base"].map((name): Case => [name, async (h) => {
    const { runner } = await h.start("testing-async");
    for (let i = 0; i < 10; i++) assert.deepEqual(await runner.process(), [letters[i], letters[i + 1], letters[i + 2]]);
  }])),
  ["test_async.py::test_async_errors", async (h) => {
    const { runner } = await h.start("testing-async-error");
    const err = await rejects(runner.process(), /This is the error that should be raised/);
    assert.match(err.message, /ValueError/);
  }],
  // ---- test_pipelines/test_input.py ----
  ["test_input.py::test_tube_input_params", async (h) => {
    const { runner } = await h.start("testing-input-tube-params", { start: 7 });
    const out = [];
    for (let i = 0; i < 5; i++) out.push(await runner.process());
    assert.deepEqual(out, [7, 8, 9, 10, 11]);
  }],
  ["test_input.py::test_tube_input_depends", async (h) => {
    const { runner } = await h.start("testing-input-tube-depends", { multiply_right: 7 });
    const out = [];
    for (let i = 0; i < 5; i++) out.push(await runner.process());
    assert.deepEqual(out, range(5).map((i) => i * 7));
  }],
  ["test_input.py::test_process_input_params", async (h) => {
    await rejects(h.tube("testing-input-process-params", { start: 7 }));
    assert.ok(h.warnings.some((w) => /input "start" was given/.test(w)), "warns of the extra input");
  }],
  ["test_input.py::test_process_input_depends", async (h) => {
    const { runner } = await h.start("testing-input-process-depends");
    for (let left = 0; left < 5; left++) assert.equal(await runner.process({ multiply_right: left + 5 }), left * (left + 5));
  }],
  ...(["testing-input-tube-params", "testing-input-tube-depends"].map((id): Case => [`test_input.py::test_tube_input_missing[${id}]`, async (h) => {
    await rejects(h.tube(id), /required tube input/);
    await rejects(h.tube(id, { irrelevant: 7 }), /required tube input/);
    assert.ok(h.warnings.some((w) => /input "irrelevant" was given/.test(w)), "warns of the extra input");
  }])),
  ["test_input.py::test_process_input_missing", async (h) => {
    const { runner } = await h.start("testing-input-process-depends");
    await rejects(runner.process(), /multiply_right/);
    await rejects(runner.process({ irrelevant: 1 }), /multiply_right/);
    assert.ok(h.warnings.some((w) => /"irrelevant"/.test(w)), "warns of the extra input");
    assert.equal(await runner.process({ multiply_right: 10 }), 0);
  }],
  ["test_input.py::test_input_integration", async (h) => {
    const { runner } = await h.start("testing-input-mixed", { start: 7, multiply_tube: 13 });
    for (let i = 0; i < 5; i++) {
      const p = 17 * 2 * (i + 1);
      assert.equal(await runner.process({ multiply_process: p }), (7 + i) * 13 * p);
    }
  }],
  ["test_input.py::test_no_run_with_process_input", async (h) => {
    const { runner } = await h.start("testing-input-process-depends");
    await rejects(() => runner.run(5), /multiply_right/);
  }],
  ["test_input.py::test_no_iter_with_process_input", async (h) => {
    const { runner } = await h.start("testing-input-process-depends");
    await rejects(() => collect(runner.iter(5)), /multiply_right/);
  }],
  ["test_input.py::test_asset_input_params", async (h) => {
    const { runner } = await h.start("testing-input-asset-params", { start: 7 });
    for (let i = 0; i < 5; i++) assert.equal(await runner.process(), i + 7);
  }],
  // ---- test_pipelines/test_map.py ----
  ["test_map.py::test_map_basic", async (h) => {
    const { runner } = await h.start("testing-map-basic");
    for (let i = 0; i < 5; i++) {
      const val = (await runner.process()) as { word: string; letter: string[] };
      assert.ok(Array.isArray(val.letter));
      assert.deepEqual(val.letter, Array.from(val.word).map((l) => l + "!"));
    }
  }],
  ["test_map.py::test_map_depends", async (h) => {
    const { runner } = await h.start("testing-map-depends");
    for (let i = 0; i < 5; i++) {
      const val = (await runner.process()) as { word: string; letters: string[]; count: number };
      assert.ok(Array.isArray(val.letters));
      assert.equal(val.count, i);
      assert.deepEqual(val.letters, Array.from(val.word).map((l) => l + "!".repeat(val.count)));
    }
  }],
  ["test_map.py::test_map_double_depends", async (h) => {
    await rejects(h.tube("testing-map-depends-double"), /different maps/);
  }],
  ["test_map.py::test_map_gather", async (h) => {
    const { runner, events } = await h.start("testing-map-gather");
    for (let i = 0; i < 5; i++) {
      const val = (await runner.process()) as { word: string; letter: string[]; reconstructed: string };
      assert.deepEqual(val.letter, Array.from(val.word).map((l) => l + "!"));
      assert.equal(val.reconstructed, val.letter.join(""));
      assert.deepEqual(events(i, "c", "value"), []);
      assert.deepEqual(events(i, "d", "value")[0], val.letter);
      assert.equal(events(i, "e", "value")[0], val.reconstructed);
      assert.deepEqual(events([i, ["b", 0]], "d", "value"), []);
      assert.deepEqual(events([i, ["b", 0]], "e", "value"), []);
    }
  }],
  ["test_map.py::test_map_nested", async (h) => {
    const { runner, events } = await h.start("testing-map-nested");
    for (let a = 0; a < 5; a++) {
      const val = (await runner.process()) as { words: string[]; word: string[]; letter: string[] };
      assert.deepEqual(val.word, val.words);
      assert.deepEqual(val.letter, Array.from(val.words.join("")));
      assert.deepEqual(events(a, "a", "multi_words")[0], val.words);
      val.words.forEach((w, b) => {
        assert.equal(events([a, ["b", b]], "b", "value")[0], w);
        Array.from(w).forEach((l, c) => assert.equal(events([a, ["b", b], ["c", c]], "c", "value")[0], l));
      });
    }
  }],
  // ---- test_pipelines/test_recursive.py ----
  ["test_recursive.py::test_recursive_pipeline", async (h) => {
    const { runner } = await h.start("testing-recursive-parent", { child_start: 1, parent_start: 3 });
    for (let i = 0; i < 5; i++) {
      const [parent, child] = [5 + i, 10 + i];
      const res = (await runner.process({ child_multiply: child + 5, parent_multiply: parent + 7 })) as Record<string, number>;
      const expectedChild = (3 + i) * (1 + i) * (child + 5);
      assert.equal(res.index, 3 + i);
      assert.equal(res.child, expectedChild);
      assert.equal(res.parent, expectedChild * (parent + 7));
    }
  }],
  ["test_recursive.py::test_recursive_signals", async (h) => {
    const { runner } = await h.start("testing-recursive-signals");
    for (let i = 0; i < 5; i++) assert.deepEqual(await runner.process(), { multiply: i * 2 * 2, divide: i / 5 / 5 });
  }],
  ["test_recursive.py::test_recursive_sporadic", async (h) => {
    const { runner, events } = await h.start("testing-recursive-sporadic-parent");
    for (let i = 0; i < 5; i++) {
      const res = (await runner.process()) as Record<string, string> | null;
      if ((i + 1) % 3 !== 0) {
        assert.equal(res, null);
        // noob stores a NoEvent event here; tubular records no event at all (docs/noob-compatibility.md).
        assert.deepEqual(events(i, "child", "word"), []);
      } else {
        assert.ok(res && "word" in res && "doubleword" in res);
        assert.equal(events(i, "child", "word").length, 1);
        assert.equal(res.doubleword, res.word! + res.word!);
      }
    }
  }],
  // ---- test_pipelines/test_asset.py ----
  ["test_asset.py::test_runner_scoped", async (h) => {
    const { runner, events } = await h.start("testing-runner-asset");
    for (let i = 0; i < 5; i++) {
      await runner.process();
      assert.equal(events(i, "increment", "next")[0], 2 ** (i + 1) - 1);
      assert.equal(events(i, "more_increment", "next")[0], 2 * (2 ** (i + 1) - 1));
    }
  }],
  ["test_asset.py::test_process_scoped", async (h) => {
    const { runner, events } = await h.start("testing-process-asset");
    for (let i = 0; i < 5; i++) {
      await runner.process();
      assert.equal(events(i, "increment", "next")[0], 3);
      assert.equal(events(i, "more_increment", "next")[0], 6);
    }
  }],
  ["test_asset.py::test_node_scoped", async (h) => {
    const { runner, events } = await h.start("testing-node-asset");
    for (let i = 0; i < 5; i++) {
      await runner.process();
      assert.equal(events(i, "increment", "next")[0], 3);
      assert.equal(events(i, "more_increment", "next")[0], 3);
    }
  }],
  ["test_asset.py::test_asset_copy_post_depends", async (h) => {
    const { runner } = await h.start("testing-depends-asset");
    for (let i = 0; i < 5; i++) {
      const result = (await runner.process()) as Record<string, unknown>;
      const start = 1 + i * 2;
      assert.equal(result.a_value, start);
      assert.equal(result.b_value, start + 1);
      assert.equal(result.post_value, start + 2);
      // Within an epoch the one object is passed along (noob checks this on its in-process runners only).
      if (h.kind === "local") assert.ok(result.a_iterator === result.b_iterator && result.b_iterator === result.post_iterator);
    }
  }],
  ["test_asset.py::test_asset_depends_post_gather", async (h) => {
    const { runner } = await h.start("testing-asset-deps-gather");
    let lastB = 0;
    for (let i = 0; i < 15; i++) {
      const result = (await runner.process()) as Record<string, number> | null;
      if ((i + 1) % 5 !== 0 || i === 0) assert.equal(result, null);
      else {
        assert.equal(result!.b_value, 5 + result!.sum! + lastB);
        assert.equal(result!.post_value, result!.b_value! + 1);
        assert.equal(result!.a_value, lastB + 5);
        lastB = result!.b_value!;
      }
    }
  }],
  ["test_asset.py::test_asset_depends_multi", async (h) => {
    const { runner } = await h.start("testing-depends-asset-multi");
    for (let i = 0; i < 5; i++) {
      const result = (await runner.process()) as Record<string, number>;
      if (i === 0) assert.notEqual(result.a_value, result.b_value);
      else assert.equal(result.a_value, result.b_value);
    }
  }],
  ["test_asset.py::test_asset_nocopy_when_unused", async (h) => {
    const { runner } = await h.start("testing-depends-asset-nocopy");
    for (let i = 0; i < 5; i++) {
      const result = (await runner.process()) as Record<string, number>;
      const start = 1 + i * 2;
      assert.deepEqual(result, { a_value: start, b_value: start + 1, post_value: (start + 1) * 2 });
    }
  }],
  ["test_asset.py::test_selective_node_init", async (h) => {
    // The asset is made for the node that reads it, and only for that node, and released after its call.
    const before = { ...initializerLog };
    const { runner, events } = await h.start("testing-asset-node-init");
    await runner.process();
    assert.deepEqual(events(0, "yes_depends", "value")[0], [true, [], {}]);
    assert.deepEqual(events(0, "no_depends", "value")[0], [null, [], {}]);
    if (h.kind === "local") assert.deepEqual(initializerLog, { inits: before.inits + 1, deinits: before.deinits + 1 });
  }],
  ["test_asset.py::test_contextmanager_asset_lifecycle", async (h) => {
    const { runner } = await h.start("testing-contextmanager-asset");
    for (let i = 0; i < 3; i++) {
      const r = (await runner.process()) as Record<string, any>;
      assert.deepEqual([r.node_a.entered, r.node_a.exited, r.node_b.entered, r.node_b.exited], [1, 1, 1, 1]);
      assert.equal(r.node_a_value, 2);
      assert.equal(r.node_b_value, 4);
      assert.deepEqual([r.process_a.entered, r.process_a.exited, r.process_b.entered, r.process_b.exited], [1, 1, 1, 1]);
      assert.equal(r.process_a_value, 2);
      assert.equal(r.process_b_value, 3);
      assert.deepEqual([r.runner_a.entered, r.runner_a.exited, r.runner_b.entered, r.runner_b.exited], [1, 0, 1, 0]);
      assert.equal(r.runner_a_value, 2 + 2 * i);
      assert.equal(r.runner_b_value, 3 + 2 * i);
    }
  }],
  // ---- test_tube.py ----
  ["test_tube.py::test_tube_init_edges", async (h) => {
    const tube = await h.tube("testing-mixed-slot");
    assert.deepEqual(tube.nodes.get("c")!.edges.map((e) => e.slot), ["one", "two", "three", "four", "five", "six", "seven"]);
    assert.deepEqual(tube.nodes.get("b")!.edges.map((e) => e.slot), ["items"]);
    assert.equal(tube.nodes.get("d")!.edges.length, 1);
    const { runner } = await h.start(tube);
    assert.equal(await runner.process(), true);
  }],
  ["test_tube.py::test_enable_nodes", async (h) => {
    const { runner } = await h.start("testing-basic");
    const r = runner;
    assert.deepEqual(r.enabledNodes(), ["a", "b", "c"]);
    await r.disableNode("c");
    assert.deepEqual(r.enabledNodes(), ["a", "b"]);
    await r.enableNode("c");
    assert.deepEqual(r.enabledNodes(), ["a", "b", "c"]);
  }],
  ["test_tube.py::test_cycle_check", async (h) => {
    await rejects(h.tube("testing-cycle"), /cycle/);
  }],
  ...(["testing-invalid-post-depends", "testing-invalid-equal-depends"].map((id): Case => [`test_tube.py::test_assets_exhausted_after_storage[${id}]`, async (h) => {
    await rejects(h.tube(id));
  }])),
  ["test_tube.py::test_tube_extends", async (h) => {
    const main = await loadSpec(await h.file("testing-extends-main"));
    const expected = await loadSpec(await h.file("testing-extends-expected"));
    for (const key of ["nodes", "input", "assets", "description"] as const) assert.deepEqual(main[key], expected[key], key);
  }],
  ["test_tube.py::test_recursive_spec_load", async (h) => {
    const grand = await h.tube("testing-recursive-grandparent", { parent_start: 1, child_start: 2 });
    const parentSpec = grand.spec.nodes.parent!.params!.tube as Record<string, any>;
    assert.equal(typeof parentSpec, "object");
    const childSpec = parentSpec.nodes.b.params.tube as Record<string, unknown>;
    const parent = await h.tube("testing-recursive-parent", { parent_start: 1, child_start: 2 });
    const child = await h.tube("testing-recursive-child", { child_start: 2 });
    assert.deepEqual(parentSpec, parent.spec);
    assert.deepEqual(childSpec, child.spec);
  }],
  // ---- test_input.py ----
  ["test_input.py(top)::test_input_optional", async (h) => {
    assert.equal((await h.tube("testing-input-optional")).input.start, 10);
    assert.equal((await h.tube("testing-input-optional", { start: 20 })).input.start, 20);
  }],
  ["test_input.py(top)::test_enabled_by_input", async (h) => {
    assert.equal((await h.tube("testing-input-optional")).nodes.get("d")!.enabled, true);
    assert.equal((await h.tube("testing-input-optional", { return_enabled: false })).nodes.get("d")!.enabled, false);
  }],
  // ---- test_runners/test_runner.py ----
  ["test_runner.py::test_process_callback", async (h) => {
    const { runner, all, tube } = await h.start("testing-basic");
    await runner.process();
    assert.equal(all.length, tube.nodes.size);
  }],
  ["test_runner.py::test_disabled_node", async (h) => {
    const { runner, all, tube } = await h.start("testing-disable-node");
    assert.deepEqual([...tube.nodes.values()].filter((n) => n.enabled).map((n) => n.id), ["a", "c"]);
    await runner.process();
    assert.ok(!all.some((e) => e.node_id === "b"));
  }],
  ["test_runner.py::test_disabled_return", async (h) => {
    const { runner, tube } = await h.start("testing-disable-return");
    assert.deepEqual([...tube.nodes.values()].filter((n) => n.enabled).map((n) => n.id), ["a", "b"]);
    assert.equal(runValues(await runner.run(100)), null);
  }],
  ["test_runner.py::test_dynamic_disable_node", async (h) => {
    const { runner } = await h.start("testing-basic");
    const r = runner;
    assert.deepEqual(runValues(await r.run(100)), range(100).map((i) => i * 2));
    await r.disableNode("b");
    assert.equal(runValues(await r.run(100)), null);
    await r.enableNode("b");
    assert.deepEqual(runValues(await r.run(100)), range(100).map((i) => 400 + i * 2));
  }],
  ["test_runner.py::test_dynamic_disable_return", async (h) => {
    const { runner } = await h.start("testing-basic");
    const r = runner;
    const first = runValues(await r.run(100)) as number[];
    await r.disableNode("c");
    assert.equal(runValues(await r.run(100)), null);
    await r.enableNode("c");
    const start = Math.max(...first) * 2 + 4;
    assert.deepEqual(runValues(await r.run(100)), range(100).map((i) => start + i * 2));
  }],
  ["test_runner.py::test_synch_unready_end_epoch", async (h) => {
    const { runner, tube } = await h.start("testing-gather-n");
    let epochs = 0;
    runner.on("epoch", () => epochs++);
    await collect(runner.iter(5));
    assert.equal(epochs, 5 * (tube.nodes.get("b")!.params.n as number));
  }],
];

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const checkout = args[0];
  if (!checkout) throw new Error("usage: conformance.sh PATH_TO_NOOB_CHECKOUT [--runner local|zmq] [--case SUBSTRING]");
  const pipelines = [path.join(checkout, "packages/noob/tests/data/pipelines"), path.join(checkout, "tests/data/pipelines")].find((p) => existsSync(p));
  if (!pipelines) throw new Error(`no tests/data/pipelines under ${checkout} (expected packages/noob/tests/data/pipelines)`);
  const opt = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const kinds: RunnerKind[] = opt("--runner") ? [opt("--runner") as RunnerKind] : ["local", "zmq"];
  const only = opt("--case");
  const typeMap = await loadTypeMap(path.join(here, "type-map.yaml"));
  const finder = new TubeFinder();
  const totals: Record<string, [number, number]> = {};
  for (const kind of kinds) {
    totals[kind] = [0, 0];
    for (const [name, run] of cases) {
      if (only && !name.includes(only)) continue;
      const h = new Harness(kind, pipelines, typeMap, finder);
      let line: string;
      try {
        await Promise.race([run(h), new Promise((_, reject) => setTimeout(() => reject(new Error("timed out after 180 s")), 180_000).unref())]);
        line = `PASS  ${kind.padEnd(5)} ${name}`;
        totals[kind]![0]++;
      } catch (err) {
        line = `FAIL  ${kind.padEnd(5)} ${name}: ${String((err as Error).message ?? err).split("\n")[0]!.slice(0, 240)}`;
      } finally {
        await h.close();
      }
      totals[kind]![1]++;
      console.log(line!);
    }
  }
  for (const [kind, [pass, n]] of Object.entries(totals)) console.log(`TOTAL ${kind.padEnd(5)} ${pass}/${n}`);
  process.exit(0);
}

process.on("warning", () => undefined);
main().catch((err) => {
  console.error(err);
  process.exit(2);
});
