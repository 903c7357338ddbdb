import { describe, expect, it } from "vitest";
import { loadTubeFromSpec } from "../../src/spec/load.ts";
import { DRIVER, placeNodes, upstreamNodes } from "../../src/runner/zmq/placement.ts";
import { HostRegistry } from "../../src/runner/zmq/host-registry.ts";
import { projectRoot } from "../helpers/acceptance.ts";

const resources = { cpus: 2, memory_total: 1, memory_free: 1, load: [0, 0, 0], gpus: [] };

describe("placement - runners for a tube", () => {
  it("per-node: gives each node its own runner, groups share one, the return node stays in the driver, a disabled node gets a runner (enabling it at run time needs one)", async () => {
    const tube = await loadTubeFromSpec(
      {
        nodes: {
          a: { type: "count", group: "front", restart: "on-failure", max_restarts: 5 },
          b: { type: "multiply", depends: [{ left: "a.index" }], params: { right: 2 }, group: "front" },
          c: { type: "add", depends: [{ left: "b.value" }], params: { right: 1 }, host: "gpu1" },
          off: { type: "count", enabled: false },
          return: { type: "return", depends: "c.value" },
        },
      },
      { baseDir: projectRoot },
    );
    const p = placeNodes(tube, { mode: "per-node" });
    expect([...p.runners.keys()].sort()).toEqual(["@front", "c", "off"]);
    expect(p.runners.get("@front")).toMatchObject({ nodes: ["a", "b"], upstream: [], restart: "on-failure", maxRestarts: 5 });
    expect(p.runners.get("c")).toMatchObject({ nodes: ["c"], upstream: ["@front"], host: "gpu1", restart: "never" });
    expect(p.runnerOf.get("return")).toBe(DRIVER);
    expect(p.runnerOf.get("off")).toBe("off");
    expect([...p.driverNodes]).toEqual(["return"]);
    // Packed (the default), c keeps its own process: its host differs from the group's.
    const packed = placeNodes(tube);
    expect([...packed.runners.keys()].sort()).toEqual(["+c", "+off", "@front"]);
    expect(packed.runners.get("+c")).toMatchObject({ nodes: ["c"], upstream: ["@front"], host: "gpu1" });
  });

  it("a node inside a map also hears the map, whose item count it needs", async () => {
    const tube = await loadTubeFromSpec(
      {
        nodes: {
          l: { type: "cycle", params: { values: [["x"]] } },
          m: { type: "map", depends: [{ value: "l.value" }] },
          e: { type: "exclaim", depends: [{ value: "m.value" }] },
          k: { type: "exclaim", depends: [{ value: "e.value" }] },
          return: { type: "return", depends: "k.value" },
        },
      },
      { baseDir: projectRoot },
    );
    expect(upstreamNodes(tube, "k").sort()).toEqual(["e", "m"]);
    expect(upstreamNodes(tube, "return").sort()).toEqual(["k", "m"]);
  });
});

describe("placement - host registry", () => {
  const plan = (p: Partial<{ host: string; labels: string[] }>) => ({ id: "r", nodes: ["n"], upstream: [], restart: "never" as const, maxRestarts: 0, ...p });

  it("chooses the named host, or the least busy host with all the labels", () => {
    const hosts = new HostRegistry();
    hosts.hello("host:a", { name: "a", labels: ["gpu"], resources, pid: 1, runners: [] }, 0);
    hosts.hello("host:b", { name: "b", labels: ["gpu", "fast"], resources, pid: 2, runners: [] }, 0);
    expect(hosts.choose(plan({ host: "b" }))?.name).toBe("b");
    expect(hosts.choose(plan({ host: "zzz" }))).toBeUndefined();
    expect(hosts.choose(plan({ labels: ["fast"] }))?.name).toBe("b");
    expect(hosts.choose(plan({ labels: ["gpu", "tpu"] }))).toBeUndefined();
    hosts.hosts.get("a")!.assigned = 3;
    expect(hosts.choose(plan({ labels: ["gpu"] }))?.name).toBe("b");
    expect(HostRegistry.isRemote(plan({}))).toBe(false);
    expect(HostRegistry.describe(plan({ labels: ["gpu", "fast"] }))).toBe("a host with labels gpu, fast");
  });

  it("a host saying hello again (after a reconnect) keeps its count of runners", () => {
    const hosts = new HostRegistry();
    hosts.hello("host:a", { name: "a", labels: [], resources, pid: 1, runners: [] }, 0);
    hosts.hosts.get("a")!.assigned = 2;
    hosts.hello("host:a", { name: "a", labels: ["x"], resources, pid: 9, runners: [] }, 5);
    expect(hosts.hosts.get("a")).toMatchObject({ assigned: 2, pid: 9, labels: ["x"], lastSeen: 5 });
    expect(hosts.byIdentity("host:a")?.name).toBe("a");
  });
});
