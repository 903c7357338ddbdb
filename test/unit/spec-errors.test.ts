import path from "node:path";
import { describe, expect, it } from "vitest";
import { SpecError, type ErrorCode } from "../../src/errors.ts";
import { LocalRunner } from "../../src/runner/local.ts";
import { loadTube, loadTubeFromSpec, mergeSpecs } from "../../src/spec/load.ts";
import { tubeJsonSchema } from "../../src/spec/schema.ts";
import { projectRoot } from "../helpers/acceptance.ts";

const dir = path.join(projectRoot, "test/fixtures/graphs");
const fixture = (name: string) => path.join(dir, name);

async function specError(promise: Promise<unknown>): Promise<SpecError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(SpecError);
    return err as SpecError;
  }
  throw new Error("expected a SpecError");
}

interface InvalidCase {
  fixture: string;
  code: ErrorCode;
  /** The file the error names, when not the fixture itself. */
  file?: string;
  path: string;
  reason: RegExp;
}

const invalid: InvalidCase[] = [
  { fixture: "invalid-unknown-type.yaml", code: "TUBULAR_ERR_SPEC_UNKNOWN_TYPE", path: "nodes.b.type", reason: /unknown node type "multiplyy".*known types: .*multiply/ },
  { fixture: "invalid-missing-node.yaml", code: "TUBULAR_ERR_SPEC_MISSING_REF", path: "nodes.b.depends", reason: /"ghost\.value": there is no node "ghost"/ },
  { fixture: "invalid-missing-signal.yaml", code: "TUBULAR_ERR_SPEC_MISSING_REF", path: "nodes.b.depends", reason: /"a\.value": node "a" has no signal "value" \(it has index\)/ },
  { fixture: "invalid-cycle.yaml", code: "TUBULAR_ERR_SPEC_CYCLE", path: "nodes.a.depends", reason: /cycle: a -> c -> b -> a/ },
  { fixture: "invalid-missing-input.yaml", code: "TUBULAR_ERR_INPUT_MISSING", path: "input.factor", reason: /required tube input "factor"/ },
  { fixture: "invalid-process-param.yaml", code: "TUBULAR_ERR_SPEC_SCOPE", path: "nodes.b.params.right", reason: /"input\.x" is a process-scoped input/ },
  { fixture: "invalid-two-returns.yaml", code: "TUBULAR_ERR_SPEC_RETURN", path: "nodes.second", reason: /at most one return node; found first, second/ },
  { fixture: "invalid-yaml.yaml", code: "TUBULAR_ERR_SPEC_READ", path: "", reason: /invalid YAML at line \d+/ },
  { fixture: "invalid-unknown-key.yaml", code: "TUBULAR_ERR_SPEC_INVALID", path: "nodes.a", reason: /unknown key\(s\) "parms"/ },
  { fixture: "invalid-extends-loop.yaml", code: "TUBULAR_ERR_SPEC_CYCLE", file: "loop-other.yaml", path: "extends[0]", reason: /extends loops back: .*invalid-extends-loop\.yaml -> .*loop-other\.yaml -> .*invalid-extends-loop\.yaml/ },
];

describe("spec - invalid graph files", () => {
  for (const c of invalid) {
    it(`${c.fixture} fails with ${c.code} naming file, path and reason`, async () => {
      const err = await specError(loadTube(fixture(c.fixture)));
      expect(err.code).toBe(c.code);
      expect(err.file).toBe(fixture(c.file ?? c.fixture));
      expect(err.path).toBe(c.path);
      expect(err.reason).toMatch(c.reason);
      expect(err.message).toBe(`${err.file}: ${c.path || "(root)"}: ${err.reason}`);
    });
  }
});

describe("spec - valid graph files", () => {
  it("valid-basic.yaml loads with its input default, and runs", async () => {
    const tube = await loadTube(fixture("valid-basic.yaml"));
    expect(tube.id).toBe("valid-basic");
    expect(tube.input).toEqual({ factor: 2 });
    expect(tube.order.indexOf("a")).toBeLessThan(tube.order.indexOf("b"));
    const runner = new LocalRunner(tube);
    await runner.init();
    expect(await runner.run(3)).toEqual([0, 2, 4].map((value, epoch) => ({ epoch, value })));
    await runner.deinit();
  });

  it("valid-required-input.yaml loads once its required tube input is given", async () => {
    const err = await specError(loadTube(fixture("valid-required-input.yaml")));
    expect(err.code).toBe("TUBULAR_ERR_INPUT_MISSING");
    const tube = await loadTube(fixture("valid-required-input.yaml"), { input: { factor: 3 } });
    const runner = new LocalRunner(tube);
    await runner.init();
    expect(await runner.process({ x: 5 })).toBe(15);
    expect(await runner.process()).toBe(3);
    await runner.deinit();
  });

  it("a tube input of the wrong type is named", async () => {
    const err = await specError(loadTube(fixture("valid-basic.yaml"), { input: { factor: "two" } }));
    expect(err.code).toBe("TUBULAR_ERR_INPUT_INVALID");
    expect(err.path).toBe("input.factor");
  });

  it("a tube input the graph does not declare is a warning that names it, and the graph loads (as in noob)", async () => {
    const warnings: string[] = [];
    const tube = await loadTube(fixture("valid-basic.yaml"), { input: { factr: 2 }, onWarning: (m) => warnings.push(m) });
    expect(tube.input).toEqual({ factor: 2 });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/input "factr" was given but the graph declares no such tube input/);
  });

  it("with strictInputs, a tube input the graph does not declare is an error that names it", async () => {
    const err = await specError(loadTube(fixture("valid-basic.yaml"), { input: { factr: 2 }, strictInputs: true }));
    expect(err.code).toBe("TUBULAR_ERR_SPEC_MISSING_REF");
    expect(err.path).toBe("input.factr");
  });
});

describe("spec - extends", () => {
  it("merges parents left to right, dicts recursively, with depends replaced whole", async () => {
    const tube = await loadTube(fixture("valid-extends.yaml"));
    expect(tube.id).toBe("valid-extends");
    const a = tube.nodes.get("a")!;
    expect(a.params).toEqual({ start: 1, step: 10 }); // base-left's start, base-right's step
    const b = tube.nodes.get("b")!;
    expect(b.type).toBe("add"); // base-right overrides base-left's multiply
    expect(b.edges.map((e) => e.slot)).toEqual(["left"]); // depends replaced, not merged with base-left's two
    expect(b.params).toEqual({ right: 1000 }); // the file's own params, merged over its parents
    const runner = new LocalRunner(tube);
    await runner.init();
    expect((await runner.run(3)).map((r) => r.value)).toEqual([1001, 1011, 1021]);
    await runner.deinit();
  });

  it("mergeSpecs: later wins, nested dicts merge, lists and depends replace", () => {
    const merged = mergeSpecs(
      { nodes: { a: { type: "x", params: { p: 1, q: [1, 2] }, depends: [{ l: "a.b" }, { r: "c.d" }] } } },
      { nodes: { a: { params: { q: [3] }, depends: [{ l: "e.f" }] } } },
    );
    expect(merged).toEqual({ nodes: { a: { type: "x", params: { p: 1, q: [3] }, depends: [{ l: "e.f" }] } } });
  });
});

describe("spec - depends forms and binding", () => {
  const load = (nodes: Record<string, unknown>, input?: Record<string, unknown>) =>
    loadTubeFromSpec({ nodes, ...(input ? { input } : {}) }, { baseDir: dir });

  it("a bare ref binds to the only declared slot, whatever the signal is called", async () => {
    const tube = await load({ a: { type: "count" }, b: { type: "sum", depends: "a.index" } });
    expect(tube.nodes.get("b")!.edges[0]!.slot).toBe("items");
  });

  it("bare refs bind to the declared slots by position, as noob binds them; named ones by name", async () => {
    const tube = await load({
      a: { type: "count" },
      b: { type: "cycle", params: { values: [3] } },
      c: { type: "divide", depends: ["b.value", "a.index"] },
      d: { type: "dictify", depends: ["a.index", { items: "b.value" }] },
    });
    expect(tube.nodes.get("c")!.edges.map((e) => e.slot)).toEqual(["numerator", "denominator"]);
    expect(tube.nodes.get("d")!.edges.map((e) => e.slot)).toEqual(["key", "items"]);
  });

  it("more bare refs than the node has slots is named", async () => {
    const err = await specError(load({ a: { type: "count" }, b: { type: "sum", depends: ["a.index", "a.index"] } }));
    expect(err.code).toBe("TUBULAR_ERR_SPEC_MISSING_REF");
    expect(err.path).toBe("nodes.b.depends[1]");
    expect(err.reason).toMatch(/declares only 1 slot\(s\) \(items\)/);
  });

  it("a required slot fed by nothing is named", async () => {
    const err = await specError(load({ a: { type: "count" }, b: { type: "add", depends: [{ left: "a.index" }] } }));
    expect(err.path).toBe("nodes.b");
    expect(err.reason).toMatch(/needs slot "right"/);
  });

  it("return shapes: scalar, list, object", async () => {
    const scalar = await load({ a: { type: "count" }, r: { type: "return", depends: "a.index" } });
    expect(scalar.returnShape).toEqual({ kind: "scalar" });
    const list = await load({ a: { type: "count" }, r: { type: "return", depends: ["a.index", "a.index"] } });
    expect(list.returnShape).toEqual({ kind: "list", length: 2 });
    const obj = await load({ a: { type: "count" }, r: { type: "return", depends: [{ i: "a.index" }, "a.index"] } });
    expect(obj.returnShape).toEqual({ kind: "object", keys: ["i", "index"] });
  });

  it("a malformed depends says which forms are allowed", async () => {
    const err = await specError(load({ a: { type: "count" }, b: { type: "exclaim", depends: 3 } }));
    expect(err.code).toBe("TUBULAR_ERR_SPEC_INVALID");
    expect(err.path).toBe("nodes.b.depends");
  });

  it("enabled may take a tube input; a disabled node never runs and its dependents skip", async () => {
    const tube = await load(
      { a: { type: "count", enabled: "input.on" }, r: { type: "return", depends: "a.index" } },
      { on: { scope: "tube", type: "boolean", default: false } },
    );
    expect(tube.nodes.get("a")!.enabled).toBe(false);
    const runner = new LocalRunner(tube);
    await runner.init();
    expect(await runner.process()).toBeNull();
    await runner.deinit();
  });

  it("a node id with a dot is refused (ids appear in node.signal references)", async () => {
    const err = await specError(load({ "a.b": { type: "count" } }));
    expect(err.code).toBe("TUBULAR_ERR_SPEC_INVALID");
  });
});

describe("spec - JSON Schema", () => {
  it("is generated from the format: nodes required, unknown keys refused", () => {
    const schema = tubeJsonSchema() as { type: string; required: string[]; properties: Record<string, unknown>; additionalProperties: unknown };
    expect(schema.type).toBe("object");
    expect(schema.required).toContain("nodes");
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(["noob_id", "input", "nodes", "extends"]));
    expect(schema.additionalProperties).toBe(false);
  });
});
