import { describe, expect, it } from "vitest";
import { HeartbeatMonitor } from "../../src/transport/index.ts";

describe("transport heartbeat", () => {
  it("transport heartbeat - a silent peer is reported dead once, and alive again when seen", () => {
    let now = 0;
    const dead: string[] = [];
    const hb = new HeartbeatMonitor({ timeoutMs: 1000, now: () => now, onDead: (p) => dead.push(p) });
    hb.seen("a");
    hb.seen("b");
    now = 600;
    hb.seen("b");
    expect(hb.check()).toEqual([]);
    now = 1000;
    expect(hb.isAlive("a")).toBe(false);
    expect(hb.isAlive("b")).toBe(true);
    expect(hb.check()).toEqual(["a"]);
    expect(hb.check()).toEqual([]);
    now = 1700;
    expect(hb.check()).toEqual(["b"]);
    hb.seen("a");
    expect(hb.isAlive("a")).toBe(true);
    now = 2800;
    expect(hb.check()).toEqual(["a"]);
    expect(dead).toEqual(["a", "b", "a"]);
    hb.forget("a");
    expect(hb.peers()).toEqual(["b"]);
    expect(hb.isAlive("never")).toBe(false);
  });

  it("transport heartbeat - start checks on a timer", () => {
    let now = 0;
    let tick: (() => void) | undefined;
    const fakeInterval = ((fn: () => void) => {
      tick = fn;
      return 1 as unknown as ReturnType<typeof setInterval>;
    }) as unknown as typeof setInterval;
    const dead: string[] = [];
    const hb = new HeartbeatMonitor({ timeoutMs: 100, now: () => now, onDead: (p) => dead.push(p) });
    hb.seen("a");
    hb.start(25, fakeInterval);
    now = 150;
    tick?.();
    expect(dead).toEqual(["a"]);
    hb.stop();
  });
});
