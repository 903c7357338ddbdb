import { describe, expect, it } from "vitest";
import { SpecError } from "../../src/errors.ts";
import { loadTubeFromSpec } from "../../src/spec/load.ts";
import { defaultProcessesPerHost, packNodes } from "../../src/runner/zmq/packing.ts";
import { DRIVER } from "../../src/runner/zmq/placement.ts";
import { projectRoot } from "../helpers/acceptance.ts";
import { ZmqRunner } from "../../src/runner/zmq/zmq-runner.ts";

const load = (nodes: Record<string, unknown>) => loadTubeFromSpec({ nodes }, { baseDir: projectRoot });

function chain(n: number, extra: (i: number) => Record<string, unknown> = () => ({})): Record<string, unknown> {
  const nodes: Record<string, unknown> = { n0: { type: "count", ...extra(0) } };
  for (let i = 1; i < n; i++) nodes[`n${i}`] = { type: "add", depends: [{ left: `n${i - 1}.${i === 1 ? "index" : "value"}` }], params: { right: 1 }, ...extra(i) };
  nodes.return = { type: "return", depends: `n${n - 1}.value` };
  return nodes;
}

function fanOut(k: number): Record<string, unknown> {
  const nodes: Record<string, unknown> = { src: { type: "count" } };
  for (let i = 0; i < k; i++) nodes[`f${i}`] = { type: "add", depends: [{ left: "src.index" }], params: { right: i } };
  nodes.return = { type: "return", depends: Array.from({ length: k }, (_, i) => `f${i}.value`) };
  return nodes;
}

/** Runner id -> its nodes, driver excluded. */
function processes(runnerOf: Map<string, string>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [node, runner] of runnerOf) if (runner !== DRIVER) out.set(runner, [...(out.get(runner) ?? []), node]);
  return out;
}

describe("packing - default placement of nodes into processes", () => {
  it("chains nodes joined one-to-one into one process, whatever the length", async () => {
    for (const n of [3, 100]) {
      const runnerOf = packNodes(await load(chain(n)), { processesPerHost: 4 });
      const procs = processes(runnerOf);
      expect([...procs.keys()]).toEqual(["+n0"]);
      expect(procs.get("+n0")).toHaveLength(n);
      expect(runnerOf.get("return")).toBe(DRIVER);
    }
  });

  it("deals a fan-out into at most processesPerHost processes, balanced, producers first", async () => {
    const tube = await load(fanOut(32));
    const one = processes(packNodes(tube, { processesPerHost: 1 }));
    expect(one.size).toBe(1);
    expect(one.get("+src")).toHaveLength(33);

    const two = processes(packNodes(tube, { processesPerHost: 2 }));
    expect(two.size).toBe(2);
    const sizes = [...two.values()].map((n) => n.length).sort((a, b) => a - b);
    expect(sizes[1]! - sizes[0]!).toBeLessThanOrEqual(1);
    // The source is in the first process, with the first of its readers.
    expect(two.get("+src")?.[0]).toBe("src");

    // Never more processes than units to pack.
    expect(processes(packNodes(await load(fanOut(1)), { processesPerHost: 8 })).size).toBe(1);
  });

  it("keeps group, isolate and per-node where the graph or the caller asks; a disabled node is placed like the others", async () => {
    const tube = await load({
      a: { type: "count" },
      b: { type: "multiply", depends: [{ left: "a.index" }], params: { right: 2 } },
      heavy: { type: "add", depends: [{ left: "b.value" }], params: { right: 1 }, isolate: true },
      g1: { type: "add", depends: [{ left: "heavy.value" }], params: { right: 1 }, group: "tail" },
      g2: { type: "add", depends: [{ left: "g1.value" }], params: { right: 1 }, group: "tail" },
      off: { type: "count", enabled: false },
      return: { type: "return", depends: "g2.value" },
    });
    const packed = packNodes(tube);
    expect(Object.fromEntries(packed)).toEqual({ a: "+a", b: "+a", heavy: "heavy", g1: "@tail", g2: "@tail", off: "+a", return: DRIVER });
    const perNode = packNodes(tube, { mode: "per-node" });
    expect(Object.fromEntries(perNode)).toEqual({ a: "a", b: "b", heavy: "heavy", g1: "@tail", g2: "@tail", off: "off", return: DRIVER });
  });

  it("does not chain across a fan-out, a fan-in, or a change of host, labels or restart policy", async () => {
    const tube = await load({
      a: { type: "count" },
      b: { type: "add", depends: [{ left: "a.index" }], params: { right: 1 } },
      c: { type: "add", depends: [{ left: "a.index" }], params: { right: 2 } },
      d: { type: "add", depends: [{ left: "b.value" }, { right: "c.value" }] },
      e: { type: "add", depends: [{ left: "d.value" }], params: { right: 1 }, host: "gpu1" },
      f: { type: "add", depends: [{ left: "e.value" }], params: { right: 1 }, host: "gpu1", restart: "on-failure" },
      return: { type: "return", depends: "f.value" },
    });
    // With one process per class, the local class holds a..d, and each other class is its own process.
    const runnerOf = packNodes(tube, { processesPerHost: 1 });
    expect(Object.fromEntries(runnerOf)).toEqual({ a: "+a", b: "+a", c: "+a", d: "+a", e: "+e", f: "+f", return: DRIVER });
    // With room for four, a, b, c and d are four units (nothing there is one-to-one).
    const wide = processes(packNodes(tube, { processesPerHost: 4 }));
    expect(new Set(["a", "b", "c", "d"].map((n) => [...wide].find(([, ns]) => ns.includes(n))![0])).size).toBe(4);
  });

  it("a node read by an isolated node as well as by its chain successor is not chained past", async () => {
    const tube = await load({
      a: { type: "count" },
      b: { type: "add", depends: [{ left: "a.index" }], params: { right: 1 } },
      watch: { type: "add", depends: [{ left: "a.index" }], params: { right: 0 }, isolate: true },
      return: { type: "return", depends: ["b.value", "watch.value"] },
    });
    const wide = packNodes(tube, { processesPerHost: 4 });
    expect(wide.get("a")).not.toBe(wide.get("b"));
    expect(wide.get("watch")).toBe("watch");
  });

  it("the processes' graph stays acyclic, so packing never makes two processes wait on each other", async () => {
    // Two chains from one source, the second reading the first midway, packed into 3.
    const nodes: Record<string, unknown> = { s: { type: "count" } };
    for (let i = 0; i < 6; i++) nodes[`x${i}`] = { type: "add", depends: [{ left: i === 0 ? "s.index" : `x${i - 1}.value` }], params: { right: 1 } };
    for (let i = 0; i < 6; i++) {
      const left = { left: i === 0 ? "s.index" : `y${i - 1}.value` };
      nodes[`y${i}`] = i === 3 ? { type: "add", depends: [left, { right: "x2.value" }] } : { type: "add", depends: [left], params: { right: 1 } };
    }
    nodes.return = { type: "return", depends: ["x5.value", "y5.value"] };
    const tube = await load(nodes);
    for (const perHost of [2, 3, 5]) {
      const runnerOf = packNodes(tube, { processesPerHost: perHost });
      const reads = new Map<string, Set<string>>();
      for (const [id, node] of tube.nodes) {
        const r = runnerOf.get(id)!;
        if (r === DRIVER) continue;
        for (const e of node.edges) {
          if (e.source.kind !== "node") continue;
          const up = runnerOf.get(e.source.node)!;
          if (up !== r) reads.set(r, new Set([...(reads.get(r) ?? []), up]));
        }
      }
      // Depth-first search for a cycle among processes.
      const state = new Map<string, "open" | "done">();
      const visit = (r: string): void => {
        expect(state.get(r), `cycle through ${r} with ${perHost} processes`).not.toBe("open");
        if (state.get(r) === "done") return;
        state.set(r, "open");
        for (const up of reads.get(r) ?? []) visit(up);
        state.set(r, "done");
      };
      for (const r of reads.keys()) visit(r);
      expect(processes(runnerOf).size).toBeLessThanOrEqual(perHost);
      expect(processes(runnerOf).size).toBeGreaterThan(1);
    }
  });

  it("about as many busy processes as cores, the driver being one", () => {
    expect(defaultProcessesPerHost(1)).toBe(1);
    expect(defaultProcessesPerHost(2)).toBe(1);
    expect(defaultProcessesPerHost(8)).toBe(7);
  });

  it("refuses a node that is both isolated and in a group, naming it", async () => {
    const err = await load({ a: { type: "count", isolate: true, group: "g" }, return: { type: "return", depends: "a.index" } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpecError);
    expect((err as SpecError).path).toBe("nodes.a.isolate");
    expect((err as SpecError).message).toMatch(/both isolate: true and group "g"/);
  });

  it("ZmqRunner packs by default, and refuses a bad processes option naming it", async () => {
    const tube = await load(chain(3));
    // Constructing spawns nothing: placement is decided, processes start at init().
    expect([...new ZmqRunner(tube, { processesPerHost: 1 }).placement.runners.keys()]).toEqual(["+n0"]);
    expect([...new ZmqRunner(tube, { processes: "per-node" }).placement.runners.keys()]).toEqual(["n0", "n1", "n2"]);
    expect(() => new ZmqRunner(tube, { processes: "many" as "packed" })).toThrow(/ZmqRunner option processes/);
    expect(() => new ZmqRunner(tube, { processesPerHost: 0 })).toThrow(/ZmqRunner option processesPerHost/);
  });
});
