import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Tube } from "../../src/graph/tube.ts";
import { ZmqRunner } from "../../src/runner/zmq/zmq-runner.ts";
import { LocalRunner } from "../../src/runner/local.ts";
import { loadTube, loadTubeFromSpec } from "../../src/spec/load.ts";
import { loadTypeMap } from "../../src/spec/type-map.ts";
import { projectRoot } from "../helpers/acceptance.ts";
import { devNull } from "../helpers/zmq-runners.ts";

const runners: ZmqRunner[] = [];
afterEach(async () => {
  for (const r of runners.splice(0)) await r.deinit();
});
/** A ZmqRunner for a loaded tube (its tube inputs applied), deinitialized after the test. */
async function started(tube: Tube): Promise<ZmqRunner> {
  const r = new ZmqRunner(tube, { output: devNull, initTimeoutMs: 60_000, commandTimeoutMs: 30_000 });
  runners.push(r);
  await r.init();
  return r;
}
const dir = path.join(projectRoot, "test/fixtures/graphs/noob");

describe("zmq runner - assets, nested tubes by noob_id, ended sources", () => {
  it("assets of every scope and a round-trip give the local runner's values", async () => {
    const typeMap = await loadTypeMap(path.join(dir, "type-map.yaml"));
    const tube = await loadTube(path.join(dir, "assets.yaml"), { typeMap });
    const local = new LocalRunner(tube);
    await local.init();
    const expected = [];
    for (let i = 0; i < 4; i++) expected.push(await local.process());
    await local.deinit();
    // The spec a runner process gets is self-contained (types mapped to absolute modules): no type map there.
    const zmq = await started(tube);
    const got = [];
    for (let i = 0; i < 4; i++) got.push(await zmq.process());
    expect(got).toEqual(expected);
    expect(got[3]).toEqual({ first: 19, second: 21, e1: 0, e2: 1, c1: 0, c2: 0 });
  });

  it("a child tube found by noob_id and a parent input reaching it run in a runner process", async () => {
    const typeMap = await loadTypeMap(path.join(dir, "type-map.yaml"));
    const tube = await loadTube(path.join(dir, "parent.yaml"), { input: { offset: 5 }, typeMap });
    const zmq = await started(tube);
    expect(await zmq.process({ scale: 2 })).toEqual({ scaled: 10, child: 5 });
  });

  it("a source that ends ends run() cleanly with the epochs before it", async () => {
    const typeMap = await loadTypeMap(path.join(dir, "type-map.yaml"));
    const tube = await loadTubeFromSpec({ nodes: { s: { type: "shared.upTo", params: { n: 4 } }, d: { type: "multiply", depends: ["s.index"], params: { right: 2 } }, r: { type: "return", depends: "d.value" } } }, { baseDir: dir, typeMap });
    const zmq = await started(tube);
    const results = await zmq.run(20);
    expect(results.map((x) => x.value)).toEqual([0, 2, 4, 6]);
    expect(zmq.sourceEnded).toBe("s");
  });
});
