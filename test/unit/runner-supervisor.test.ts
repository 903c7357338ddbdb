/** The supervisor with real processes: small scripts stand in for runner processes. */
import { describe, expect, it } from "vitest";
import { RunnerSupervisor, describeExit, restartDelay, type ExitInfo } from "../../src/runner/zmq/runner-supervisor.ts";
import { devNull } from "../helpers/zmq-runners.ts";

/** A "runner" that exits with `code` at once (the supervisor appends CONFIG and ID, which node -e ignores). */
const exitsWith = (code: number) => ({ args: ["-e", `process.exit(${code})`], bundled: false });
const lingers = { args: ["-e", "setInterval(() => {}, 1000)"], bundled: false };

function collect(): { exits: ExitInfo[]; waitFor: (n: number) => Promise<void>; onExit: (i: ExitInfo) => void } {
  const exits: ExitInfo[] = [];
  let wake = () => {};
  return {
    exits,
    onExit: (i) => {
      exits.push(i);
      wake();
    },
    waitFor: async (n) => {
      while (exits.length < n) await new Promise<void>((r) => (wake = r));
    },
  };
}

describe("runner supervisor - restart policies", () => {
  it("on-failure restarts a failing runner up to max_restarts, with a doubling delay", async () => {
    const c = collect();
    const sup = new RunnerSupervisor(exitsWith(3), c.onExit, devNull);
    sup.spawn("r", "config.json", { restart: "on-failure", maxRestarts: 2 });
    await c.waitFor(3);
    expect(c.exits.map((e) => [e.code, e.restarting, e.restarts])).toEqual([
      [3, true, 1],
      [3, true, 2],
      [3, false, 2],
    ]);
    expect(c.exits.map((e) => e.delayMs)).toEqual([250, 500, 0]);
    expect(sup.supervised).toEqual([]);
  });

  it("on-failure does not restart a clean exit; always does; never does not", async () => {
    const clean = collect();
    new RunnerSupervisor(exitsWith(0), clean.onExit, devNull).spawn("r", "c", { restart: "on-failure" });
    await clean.waitFor(1);
    expect(clean.exits[0]).toMatchObject({ code: 0, restarting: false });

    const always = collect();
    new RunnerSupervisor(exitsWith(0), always.onExit, devNull).spawn("r", "c", { restart: "always", maxRestarts: 1 });
    await always.waitFor(2);
    expect(always.exits.map((e) => e.restarting)).toEqual([true, false]);

    const never = collect();
    new RunnerSupervisor(exitsWith(1), never.onExit, devNull).spawn("r", "c");
    await never.waitFor(1);
    expect(never.exits[0]).toMatchObject({ code: 1, restarting: false, restarts: 0 });
  });

  it("stopAll ends runners that do not exit by themselves, and restarts nothing", async () => {
    const c = collect();
    const sup = new RunnerSupervisor(lingers, c.onExit, devNull);
    sup.spawn("a", "c", { restart: "always" });
    sup.spawn("b", "c", { restart: "always" });
    const pids = [sup.pid("a")!, sup.pid("b")!];
    expect(pids.every((p) => p > 0)).toBe(true);
    await sup.stopAll(100);
    expect(c.exits.map((e) => e.restarting)).toEqual([false, false]);
    expect(c.exits.every((e) => e.signal === "SIGTERM")).toBe(true);
  });

  it("describes how a runner died, and bounds the restart delay", () => {
    expect(describeExit({ code: null, signal: "SIGKILL" })).toMatch(/killed by SIGKILL.*out-of-memory/);
    expect(describeExit({ code: 3, signal: null })).toBe("exited with code 3");
    expect([1, 2, 3, 10].map(restartDelay)).toEqual([250, 500, 1000, 8000]);
  });
});
