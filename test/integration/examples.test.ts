/** Every example in examples/ through the real CLI, as the README tells a new user to run them. */
import { describe, expect, it } from "vitest";
import { jsonLines, tubular } from "../helpers/cli.ts";

const values = async (file: string, ...args: string[]) => {
  const r = await tubular(["run", file, "--json", ...args]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  const lines = jsonLines(r.stdout);
  expect(lines.map((l) => l.epoch)).toEqual([...lines.keys()]);
  return lines.map((l) => l.value);
};

describe("examples - through the CLI", () => {
  it("basic.yaml: count times the factor, 10 epochs by default", async () => {
    expect(await values("examples/basic.yaml")).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
  });

  it("basic.yaml with --input factor=10 --epochs 3", async () => {
    expect(await values("examples/basic.yaml", "--input", "factor=10", "--epochs", "3")).toEqual([0, 10, 20]);
  });

  it("custom-node.yaml: TypeScript nodes of the four forms, loaded without a build step", async () => {
    expect(await values("examples/custom-node.yaml", "--epochs", "4")).toEqual([
      { square: 1, summary: "mean 1.00, max 1", sampled: "mean 1.00, max 1" },
      { square: 4, summary: "mean 2.50, max 4" },
      { square: 9, summary: "mean 4.67, max 9", sampled: "mean 4.67, max 9" },
      { square: 16, summary: "mean 9.67, max 16" },
    ]);
  });

  it("nested.yaml: a child graph as one node", async () => {
    expect(await values("examples/nested.yaml", "--epochs", "3")).toEqual([
      { index: 1, scaled: 10, shifted: 110 },
      { index: 2, scaled: 20, shifted: 120 },
      { index: 3, scaled: 30, shifted: 130 },
    ]);
  });

  it("map-gather.yaml: per-item nodes and a gather of the items", async () => {
    expect(await values("examples/map-gather.yaml", "--epochs", "4")).toEqual([
      { count: 3, words: ["tube!", "node!", "graph!"], sentence: "tube! node! graph!" },
      { count: 2, words: ["map!", "gather!"], sentence: "map! gather!" },
      { count: 1, words: ["epoch!"], sentence: "epoch!" },
      { count: 3, words: ["tube!", "node!", "graph!"], sentence: "tube! node! graph!" },
    ]);
  });

  it("every example validates", async () => {
    const files = ["basic", "custom-node", "nested", "child", "map-gather"];
    const results = await Promise.all(files.map((f) => tubular(["validate", `examples/${f}.yaml`])));
    for (const r of results) expect(r.code, r.stderr).toBe(0);
  });
});
