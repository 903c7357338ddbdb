import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { SpecError } from "../../src/errors.ts";
import { LocalRunner } from "../../src/runner/local.ts";
import { loadTube, loadTubeFromSpec } from "../../src/spec/load.ts";
import { loadTypeMap, mapType, typeMapFromObject } from "../../src/spec/type-map.ts";
import { projectRoot } from "../helpers/acceptance.ts";
import { tallyLog } from "../fixtures/nodes/shared.ts";

const dir = path.join(projectRoot, "test/fixtures/graphs/noob");
const fx = (name: string) => path.join(dir, name);
const typeMap = () => loadTypeMap(fx("type-map.yaml"));

const runners: LocalRunner[] = [];
afterEach(async () => {
  for (const r of runners.splice(0)) await r.deinit();
});
async function started(tube: Awaited<ReturnType<typeof loadTube>>): Promise<LocalRunner> {
  const r = new LocalRunner(tube);
  runners.push(r);
  await r.init();
  return r;
}

async function specError(p: Promise<unknown>): Promise<SpecError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(SpecError);
    return err as SpecError;
  }
  throw new Error("expected a SpecError");
}

describe("noob format - files as noob writes them", () => {
  it("noob_model, Python input type names, a child tube by noob_id in a sub-folder, a parent input reaching the child by name", async () => {
    const tube = await loadTube(fx("parent.yaml"), { input: { offset: 5 }, typeMap: await typeMap() });
    expect(tube.spec.noob_model).toBe("noob.tube.TubeSpecification");
    expect(tube.input).toEqual({ offset: 5, label: "x" });
    // The child is inlined in the spec a runner process rebuilds, types already mapped: no search there.
    expect((tube.spec.nodes.child!.params!.tube as { noob_id: string }).noob_id).toBe("fx-child");
    const r = await started(tube);
    // The child returns { value }: one key, so its signal `value` carries the number, not the object.
    expect(await r.process({ scale: 2 })).toEqual({ scaled: 10, child: 5 });
    expect(await r.process({ scale: 1.5 })).toEqual({ scaled: 9, child: 6 });
  });

  it("Python input types are checked as tubular's: int, float, str", async () => {
    const err = await specError(loadTube(fx("parent.yaml"), { input: { offset: 1.5 }, typeMap: await typeMap() }));
    expect(err.code).toBe("TUBULAR_ERR_INPUT_INVALID");
    expect(err.reason).toMatch(/must be of type int/);
    const r = await started(await loadTube(fx("parent.yaml"), { input: { offset: 0 }, typeMap: await typeMap() }));
    await expect(r.process({ scale: "2" })).rejects.toMatchObject({ code: "TUBULAR_ERR_INPUT_INVALID" });
  });

  it("noob's other input type names: bool, list, dict, pathlib.Path, typing.Any, with their defaults and checks", async () => {
    const input = {
      flag: { type: "bool", default: true },
      items: { type: "list", default: [1, 2] },
      opts: { type: "dict", default: { k: 1 } },
      where: { type: "pathlib.Path", default: "/tmp/x" },
      anything: { type: "typing.Any", default: 5 },
    };
    const load = (given: Record<string, unknown> = {}) => loadTubeFromSpec({ input, nodes: { a: { type: "count" } } }, { baseDir: projectRoot, input: given });
    expect((await load()).input).toEqual({ flag: true, items: [1, 2], opts: { k: 1 }, where: "/tmp/x", anything: 5 });
    expect((await load({ flag: false, items: [], opts: {}, where: "rel/p", anything: ["x", 1] })).input).toEqual({ flag: false, items: [], opts: {}, where: "rel/p", anything: ["x", 1] });
    for (const [name, bad, type] of [["flag", "yes", "bool"], ["items", { a: 1 }, "list"], ["opts", [1], "dict"], ["where", 3, "pathlib.Path"]] as const) {
      const err = await specError(load({ [name]: bad }));
      expect(err.code).toBe("TUBULAR_ERR_INPUT_INVALID");
      expect(err.reason).toContain(`must be of type ${type}`);
    }
  });

  it("a noob_id no folder declares is an error that lists where it looked", async () => {
    const err = await specError(loadTube(fx("missing-child.yaml"), { tubePath: [path.join(projectRoot, "test/fixtures/graphs/noob-path")] }));
    expect(err.code).toBe("TUBULAR_ERR_SPEC_READ");
    expect(err.path).toBe("nodes.c.params.tube");
    expect(err.reason).toContain('no graph file declares noob_id "fx-nowhere"');
    expect(err.reason).toContain(dir);
    expect(err.reason).toContain(path.join(projectRoot, "test/fixtures/graphs/noob-path"));
  });

  it("a noob_id is found through tubePath and through TUBULAR_TUBE_PATH", async () => {
    const far = path.join(projectRoot, "test/fixtures/graphs/noob-path");
    await specError(loadTube(fx("uses-far.yaml")));
    const viaOption = await started(await loadTube(fx("uses-far.yaml"), { tubePath: [far] }));
    expect(await viaOption.process()).toBe(100);
    const before = process.env.TUBULAR_TUBE_PATH;
    process.env.TUBULAR_TUBE_PATH = ["/nonexistent", far].join(path.delimiter);
    try {
      const viaEnv = await started(await loadTube(fx("uses-far.yaml")));
      expect(await viaEnv.process()).toBe(100);
    } finally {
      if (before === undefined) delete process.env.TUBULAR_TUBE_PATH;
      else process.env.TUBULAR_TUBE_PATH = before;
    }
  });

  it("extends by noob_id: the child's return node replaces the parent's", async () => {
    const tube = await loadTube(fx("ext-child.yaml"));
    expect(tube.returnNode).toBe("result");
    expect(tube.nodes.has("out")).toBe(false);
    const r = await started(tube);
    expect([await r.process(), await r.process()]).toEqual([{ tripled: 0 }, { tripled: 3 }]);
  });

  it("the type map: exact names and prefix.* patterns, the longer prefix first; targets relative to the map file", async () => {
    const map = typeMapFromObject({ "a.*": "./x.ts#*", "a.b.*": "/abs/y.ts#*", "a.b.c": "count" }, "/base");
    expect(mapType("a.q", map)).toBe("/base/x.ts#q");
    expect(mapType("a.b.q", map)).toBe("/abs/y.ts#q");
    expect(mapType("a.b.c", map)).toBe("count");
    expect(mapType("other", map)).toBe("other");
    const err = await specError(loadTube(fx("parent.yaml"), { input: { offset: 0 } }));
    expect(err.path).toBe("nodes.a.type");
    expect(err.reason).toMatch(/unknown node type "mylib.sources.count"/);
  });

  it("a cycle is reported as a cycle even when a node on it also names a slot its type lacks", async () => {
    const err = await specError(loadTube(fx("cycle-bad-slot.yaml")));
    expect(err.code).toBe("TUBULAR_ERR_SPEC_CYCLE");
    expect(err.reason).toMatch(/a -> .* -> a|cycle/);
  });

  it("map over a string maps its characters; a return of a one-item map gives the item itself, as noob's", async () => {
    const tube = await loadTubeFromSpec(
      {
        input: { word: { type: "str", scope: "process" } },
        nodes: {
          m: { type: "map", depends: [{ value: "input.word" }] },
          e: { type: "exclaim", depends: [{ value: "m.value" }] },
          r: { type: "return", depends: [{ letters: "e.value" }] },
        },
      },
      { baseDir: projectRoot },
    );
    const r = await started(tube);
    expect(await r.process({ word: "abc" })).toEqual({ letters: ["a!", "b!", "c!"] });
    expect(await r.process({ word: "z" })).toEqual({ letters: "z!" });
  });

  it("return reads values two map levels deep, flattened in order", async () => {
    const tube = await loadTubeFromSpec(
      {
        input: { words: { type: "list", scope: "process" } },
        nodes: {
          outer: { type: "map", depends: [{ value: "input.words" }] },
          inner: { type: "map", depends: [{ value: "outer.value" }] },
          e: { type: "exclaim", depends: [{ value: "inner.value" }] },
          r: { type: "return", depends: [{ words: "outer.value" }, { letters: "e.value" }] },
        },
      },
      { baseDir: projectRoot },
    );
    const r = await started(tube);
    expect(await r.process({ words: ["ab", "c"] })).toEqual({ words: ["ab", "c"], letters: ["a!", "b!", "c!"] });
  });

  it("iter() skips epochs that returned nothing, as noob's does", async () => {
    const tube = await loadTubeFromSpec(
      { nodes: { a: { type: "count" }, g: { type: "gather", params: { n: 3 }, depends: [{ value: "a.index" }] }, r: { type: "return", depends: "g.value" } } },
      { baseDir: projectRoot },
    );
    const r = await started(tube);
    const out: unknown[] = [];
    for await (const v of r.iter(2)) out.push(v);
    expect(out).toEqual([[0, 1, 2], [3, 4, 5]]);
  });
});

describe("noob format - runner behaviour", () => {
  const basic = () => loadTubeFromSpec({ nodes: { a: { type: "count" }, b: { type: "multiply", depends: ["a.index"], params: { right: 2 } }, c: { type: "return", depends: "b.value" } } }, { baseDir: projectRoot });

  it("a node disabled and enabled again on a loaded runner: its dependants get nothing meanwhile, the sources go on", async () => {
    const r = await started(await basic());
    expect((await r.run(3)).map((x) => x.value)).toEqual([0, 2, 4]);
    await r.disableNode("b");
    expect(r.enabledNodes()).toEqual(["a", "c"]);
    expect((await r.run(3)).map((x) => x.value)).toEqual([null, null, null]);
    await r.enableNode("b");
    expect((await r.run(2)).map((x) => x.value)).toEqual([12, 14]);
  });

  it("a node disabled in the file can be enabled on a loaded runner: it is created then", async () => {
    const tube = await loadTubeFromSpec({ nodes: { a: { type: "count" }, b: { type: "multiply", depends: ["a.index"], params: { right: 2 }, enabled: false }, c: { type: "return", depends: "b.value" } } }, { baseDir: projectRoot });
    const r = await started(tube);
    expect(await r.process()).toBeNull();
    await r.enableNode("b");
    expect(await r.process()).toBe(2);
  });

  it("a source that ends ends a free-run cleanly, and process() then says which source ended", async () => {
    const tube = await loadTubeFromSpec({ nodes: { s: { type: "shared.upTo", params: { n: 3 } }, r: { type: "return", depends: "s.index" } } }, { baseDir: dir, typeMap: await typeMap() });
    const r = await started(tube);
    const results = await r.run(10);
    expect(results.map((x) => x.value)).toEqual([0, 1, 2]);
    expect(r.sourceEnded).toBe("s");
    expect(r.state).toBe("ready");
    await expect(r.process()).rejects.toMatchObject({ code: "TUBULAR_ERR_SOURCE_ENDED", nodeId: "s" });
  });
});

describe("assets - local runner", () => {
  it("runner, process and node scopes, a depends round-trip and asset params from a tube input", async () => {
    tallyLog.length = 0;
    const tube = await loadTube(fx("assets.yaml"), { typeMap: await typeMap() });
    const r = new LocalRunner(tube);
    await r.init();
    expect(tallyLog).toEqual(["enter kept"]);
    const out = [];
    for (let i = 0; i < 3; i++) out.push(await r.process());
    // kept: from 10; first takes one, second two; second's tally is next epoch's asset.
    expect(out).toEqual([0, 1, 2].map((i) => ({ first: 10 + 3 * i, second: 12 + 3 * i, e1: 0, e2: 1, c1: 0, c2: 0 })));
    // Each epoch: its own perEpoch tally (made on first use, released as the epoch ends); a perCall tally per call.
    expect(tallyLog.filter((l) => l.endsWith("epoch"))).toEqual(["enter epoch", "exit epoch", "enter epoch", "exit epoch", "enter epoch", "exit epoch"]);
    expect(tallyLog.filter((l) => l === "enter call").length).toBe(6);
    expect(tallyLog.filter((l) => l === "exit call").length).toBe(6);
    expect(tallyLog).not.toContain("exit kept");
    await r.deinit();
    expect(tallyLog.at(-1)).toBe("exit kept");
  });

  it("a node that reads a round-tripped asset in the refreshing node's generation or later is refused", async () => {
    const err = await specError(
      loadTubeFromSpec(
        {
          assets: { t: { type: "shared.Tally", scope: "runner", depends: "a.tally" } },
          nodes: { a: { type: "shared.take", depends: [{ tally: "assets.t" }] }, b: { type: "shared.take", depends: [{ tally: "assets.t" }, { times: "a.taken" }] } },
        },
        { baseDir: dir, typeMap: await typeMap() },
      ),
    );
    expect(err.code).toBe("TUBULAR_ERR_SPEC_SCOPE");
    expect(err.path).toBe("nodes.b.depends");
  });

  it("nodes that touch an asset object share a process group on the ZeroMQ runner", async () => {
    const tube = await loadTube(fx("assets.yaml"), { typeMap: await typeMap() });
    const groups = Object.fromEntries([...tube.nodes.values()].map((n) => [n.id, n.placement.group]));
    expect(new Set([groups.first, groups.second])).toEqual(new Set([groups.first]));
    expect(groups.first).toBeDefined();
    expect(groups.e1).toBe(groups.e2);
    expect(groups.r).toBeUndefined();
  });
});
