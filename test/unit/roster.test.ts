import { describe, expect, it } from "vitest";
import { Roster } from "../../src/runner/zmq/roster.ts";
import type { Placement, RunnerPlan } from "../../src/runner/zmq/placement.ts";

const plan = (id: string, nodes: string[], upstream: string[]): RunnerPlan => ({ id, nodes, upstream, restart: "on-failure", maxRestarts: 3 });
// a -> b -> return (the driver's node reads b)
const placement: Placement = {
  runners: new Map([
    ["ra", plan("ra", ["a"], [])],
    ["rb", plan("rb", ["b", "c"], ["ra"])],
  ]),
  runnerOf: new Map([
    ["a", "ra"],
    ["b", "rb"],
    ["c", "rb"],
    ["return", "command"],
  ]),
  driverNodes: ["return"],
};
const upstream = (id: string) => (id === "return" ? ["b"] : id === "b" ? ["a"] : []);
const identity = (id: string, status: "stopped" | "ready" = "stopped") => ({ node_id: id, outbox: `ipc:///tmp/${id}`, status, signals: null, slots: null, subscribed_to: [], subscribers: [], pid: 42 });

describe("roster", () => {
  it("roster - one record per runner, knowing who feeds the driver and who is a sink", () => {
    const r = new Roster(placement, upstream);
    expect(r.ids()).toEqual(["ra", "rb"]);
    expect(r.get("ra")).toMatchObject({ feedsDriver: false, sink: false, host: "driver", state: { kind: "starting" }, restarts: 0 });
    expect(r.get("rb")).toMatchObject({ feedsDriver: true, sink: true });
    expect(Roster.statusOf(r.get("ra")!)).toBe("unknown");
  });

  it("roster - a connection speaks for the runner that identified on it, and a new one replaces the old", () => {
    const r = new Roster(placement, upstream);
    r.bind("ra", "c1");
    expect(r.onConnection("c1")?.id).toBe("ra");
    r.bind("ra", "c2");
    expect(r.onConnection("c1")).toBeUndefined();
    expect(r.onConnection("c2")?.id).toBe("ra");
  });

  it("roster - a death changes the one record: connection, identity and subscription gone, state says how", () => {
    const r = new Roster(placement, upstream);
    r.bind("rb", "c1");
    r.identified("rb", identity("rb"));
    r.get("rb")!.subscribed = true;
    expect(r.reported("rb", "ready")).toBe(false);
    expect(Roster.statusOf(r.get("rb")!)).toBe("ready");
    r.down("rb", "was killed", true);
    const rec = r.get("rb")!;
    expect(rec).toMatchObject({ identity: undefined, connection: undefined, subscribed: false, state: { kind: "restarting", how: "was killed" } });
    expect(r.onConnection("c1")).toBeUndefined();
    expect(r.restarting()).toEqual(["rb"]);
    expect(Roster.statusOf(rec)).toBe("restarting");
    // The replacement identifies and reports waiting: still restarting; ready ends the restart.
    r.identified("rb", identity("rb"));
    expect(r.reported("rb", "waiting")).toBe(false);
    expect(r.isRestarting("rb")).toBe(true);
    expect(r.reported("rb", "ready")).toBe(true);
    expect(r.restarting()).toEqual([]);
    r.down("ra", "is unreachable", false);
    expect(Roster.statusOf(r.get("ra")!)).toBe("closed");
  });

  it("roster - epochs are counted per node, the driver's own nodes apart", () => {
    const r = new Roster(placement, upstream);
    r.countEpoch("rb", "b");
    r.countEpoch("rb", "b");
    r.countEpoch("rb", "c");
    r.countEpoch(undefined, "return");
    r.countEpoch("command", "return");
    expect(r.get("rb")!.epochs).toEqual(new Map([["b", 2], ["c", 1]]));
    expect(r.driverEpochsOf("return")).toBe(2);
  });

  it("roster - announce lists the runners that identified, without the others", () => {
    const r = new Roster(placement, upstream);
    r.identified("ra", identity("ra"));
    expect(Object.keys(r.identities())).toEqual(["ra"]);
  });
});
