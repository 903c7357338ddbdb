/**
 * A run between calls costs (almost) no CPU: no process of a per-node run
 * spins while it waits. Before the fix every runner and the driver spun on
 * their control socket (a SERVER/CLIENT read left pending; see
 * src/transport/idle-poll.ts), about half a core each.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { useZmqRunners } from "../helpers/zmq-runners.ts";

const chain = {
  noob_id: "idle",
  nodes: {
    a: { type: "count" },
    b: { type: "multiply", depends: [{ left: "a.index" }], params: { right: 2 } },
    return: { type: "return", depends: "b.value" },
  },
};

/** CPU time of a process so far (user + system), in ms (Linux, clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const started = useZmqRunners();

describe("zmq runner - idle cost", { timeout: 60_000 }, () => {
  it("between calls, no runner process and not the driver spins: each takes under 200 ms of CPU in 3 s", async () => {
    const runner = await started(chain, { processes: "per-node" });
    const values: unknown[] = [];
    for (let i = 0; i < 3; i++) values.push(await runner.process());
    expect(values).toEqual([0, 2, 4]);
    const pids = Object.values(runner.pids()).filter((p): p is number => p !== undefined);
    expect(pids.length).toBe(2);
    const before = pids.map(cpuMs);
    const self0 = process.cpuUsage();
    const idleMs = 3000;
    await new Promise((r) => setTimeout(r, idleMs));
    const self = process.cpuUsage(self0);
    const used = pids.map((pid, i) => cpuMs(pid) - before[i]!);
    // A spinning process took about half a core on an idle machine (1,500 ms in 3 s) and still a few
    // hundred ms at a load average of 20; an idle one takes its heartbeats and a poll every 32 ms (80 ms in 3 s at a load average of 24).
    for (const ms of used) expect(ms).toBeLessThan(200);
    expect((self.user + self.system) / 1000).toBeLessThan(200);
    expect(await runner.process()).toBe(6);
  });
});
