/** `tubular run` / `validate` for a noob user: a type map, a tube path, a source that ends. */
import path from "node:path";
import { describe, expect, it } from "vitest";
import { projectRoot } from "../helpers/acceptance.ts";
import { jsonLines, tubular } from "../helpers/cli.ts";

const dir = path.join(projectRoot, "test/fixtures/graphs/noob");

describe("cli - noob users", () => {
  it("run maps dotted types with --type-map, finds a child by noob_id, warns of an undeclared input", async () => {
    const r = await tubular(["run", path.join(dir, "parent.yaml"), "--type-map", path.join(dir, "type-map.yaml"), "--input", "offset=5", "--input", "ofset=1", "--epochs", "1", "--json", "--process-inputs", path.join(dir, "parent-inputs.jsonl")], { timeoutMs: 60_000 });
    expect(r.stderr).toMatch(/warning: .*input "ofset" was given but the graph declares no such tube input/);
    expect(r.code).toBe(0);
    expect(jsonLines(r.stdout)).toEqual([{ epoch: 0, value: { scaled: 10, child: 5 } }]);
  });

  it("--strict-inputs makes an undeclared input an error; --type-map NAME=TYPE works like a map file", async () => {
    const strict = await tubular(["validate", path.join(dir, "parent.yaml"), "--type-map", "mylib.sources.count=count", "--input", "offset=5", "--input", "ofset=1", "--strict-inputs"], { timeoutMs: 60_000 });
    expect(strict.code).toBe(2);
    expect(strict.stderr).toMatch(/input\.ofset/);
    const ok = await tubular(["validate", path.join(dir, "parent.yaml"), "--type-map", "mylib.sources.count=count", "--input", "offset=5"], { timeoutMs: 60_000 });
    expect(ok.stdout).toMatch(/valid/);
    expect(ok.code).toBe(0);
  });

  for (const runner of ["zmq", "local"]) {
    it(`a free-run whose source ends stops cleanly and says which source ended (--runner ${runner})`, async () => {
      const r = await tubular(["run", path.join(dir, "ends.yaml"), "--type-map", path.join(dir, "type-map.yaml"), "--runner", runner, "--free-run", "--json"], { timeoutMs: 60_000 });
      expect(r.code).toBe(0);
      expect(jsonLines(r.stdout).map((l) => l.value)).toEqual([0, 1, 2]);
      expect(r.stderr).toMatch(/source "s" ended/);
    });
  }

  it("a child tube named by noob_id is found through --tube-path and TUBULAR_TUBE_PATH; without either, the error lists where it looked", async () => {
    const far = path.join(projectRoot, "test/fixtures/graphs/noob-path");
    const graph = path.join(dir, "uses-far.yaml");
    const missing = await tubular(["validate", graph], { timeoutMs: 60_000, env: { TUBULAR_TUBE_PATH: "" } });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no graph file declares noob_id "fx-far"');
    expect(missing.stderr).toContain(dir);
    const viaFlag = await tubular(["run", graph, "--tube-path", far, "--epochs", "2", "--json"], { timeoutMs: 60_000, env: { TUBULAR_TUBE_PATH: "" } });
    expect(viaFlag.code).toBe(0);
    expect(jsonLines(viaFlag.stdout).map((l) => l.value)).toEqual([100, 101]);
    const viaEnv = await tubular(["run", graph, "--runner", "local", "--epochs", "1", "--json"], { timeoutMs: 60_000, env: { TUBULAR_TUBE_PATH: far } });
    expect(viaEnv.code).toBe(0);
    expect(jsonLines(viaEnv.stdout).map((l) => l.value)).toEqual([100]);
  });
});
