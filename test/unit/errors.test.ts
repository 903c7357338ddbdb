import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ErrorCodes, InputError, NodeError, SpecError, TubularError } from "../../src/errors.ts";
import { projectRoot } from "../helpers/acceptance.ts";

const codes = Object.keys(ErrorCodes);
const doc = readFileSync(path.join(projectRoot, "docs/errors.md"), "utf8");
const documented = [...doc.matchAll(/^\|\s*`(TUBULAR_ERR_[A-Z0-9_]+)`\s*\|(.*)\|\s*$/gm)].map((m) => ({ code: m[1]!, text: m[2]!.trim() }));

describe("errors - registry", () => {
  it("every code is TUBULAR_ERR_ in upper case, and codes and descriptions are unique", () => {
    for (const code of codes) expect(code).toMatch(/^TUBULAR_ERR_[A-Z0-9_]+$/);
    expect(new Set(codes).size).toBe(codes.length);
    const descriptions = Object.values(ErrorCodes);
    expect(new Set(descriptions).size).toBe(descriptions.length);
  });

  it("every code is documented once in docs/errors.md, with a description", () => {
    for (const code of codes) {
      const rows = documented.filter((d) => d.code === code);
      expect(rows, `${code} must have exactly one row in docs/errors.md`).toHaveLength(1);
      expect(rows[0]!.text.length).toBeGreaterThan(10);
    }
  });

  it("docs/errors.md documents no code that does not exist", () => {
    for (const { code } of documented) expect(codes, `docs/errors.md lists unknown code ${code}`).toContain(code);
  });
});

describe("errors - classes", () => {
  it("a SpecError reads file: path: reason and carries each", () => {
    const e = new SpecError("TUBULAR_ERR_SPEC_CYCLE", "g.yaml", "nodes.a.depends", "a cycle");
    expect(e).toBeInstanceOf(TubularError);
    expect(e.message).toBe("g.yaml: nodes.a.depends: a cycle");
    expect([e.code, e.file, e.path, e.reason]).toEqual(["TUBULAR_ERR_SPEC_CYCLE", "g.yaml", "nodes.a.depends", "a cycle"]);
    expect(e.toJSON()).toMatchObject({ code: "TUBULAR_ERR_SPEC_CYCLE", file: "g.yaml", path: "nodes.a.depends" });
  });

  it("a NodeError wraps what a node threw: node id, epoch, type, message and the node's stack", () => {
    const thrown = new RangeError("division by zero");
    const e = NodeError.from("b", 2, thrown);
    expect(e.code).toBe("TUBULAR_ERR_NODE_FAILED");
    expect([e.nodeId, e.epoch, e.errorType, e.errorMessage]).toEqual(["b", 2, "RangeError", "division by zero"]);
    expect(e.message).toContain('node "b" at epoch 2');
    expect(e.remoteStack).toBe(thrown.stack);
    expect(e.cause).toBe(thrown);
    expect(NodeError.from("c", 3, e)).toBe(e);
    expect(NodeError.from("c", 3, "a string").errorMessage).toBe("a string");
  });

  it("an InputError names the input", () => {
    const e = new InputError("TUBULAR_ERR_INPUT_MISSING", "x", "required process input was not given");
    expect(e.input).toBe("x");
    expect(e.message).toContain('"x"');
  });
});
