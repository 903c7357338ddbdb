import { describe, expect, it } from "vitest";
import { HeartbeatMonitor } from "../../src/transport/index.ts";

describe("transport heartbeat", () => {
  /** A monitor on a fake clock, checked every 250 ms as the driver does. */
  function monitored(timeoutMs = 1000) {
    let now = 0;
    const dead: string[] = [];
    const hb = new HeartbeatMonitor({ timeoutMs, now: () => now, onDead: (p) => dead.push(p) });
    const found: string[] = [];
    /** Moves the clock to `to`, checking on the way; returns the peers found dead. */
    const advance = (to: number): string[] => {
      found.length = 0;
      while (now + 250 <= to) {
        now += 250;
        found.push(...hb.check());
      }
      now = to;
      return [...found];
    };
    return { hb, dead, advance };
  }

  it("transport heartbeat - a silent peer is reported dead once, and alive again when seen", () => {
    const { hb, dead, advance } = monitored();
    hb.check();
    hb.seen("a");
    hb.seen("b");
    expect(advance(500)).toEqual([]);
    hb.seen("b");
    expect(advance(750)).toEqual([]);
    expect(advance(1000)).toEqual(["a"]);
    expect(hb.isAlive("a")).toBe(false);
    expect(hb.isAlive("b")).toBe(true);
    expect(advance(1500)).toEqual(["b"]);
    expect(advance(2000)).toEqual([]);
    hb.seen("a");
    expect(hb.isAlive("a")).toBe(true);
    expect(advance(3000)).toEqual(["a"]);
    expect(dead).toEqual(["a", "b", "a"]);
    hb.forget("a");
    expect(hb.peers()).toEqual(["b"]);
    expect(hb.isAlive("never")).toBe(false);
  });

  it("transport heartbeat - a check held up by its own process does not count the hold-up as the peers' silence", () => {
    let now = 0;
    const hb = new HeartbeatMonitor({ timeoutMs: 1000, now: () => now });
    hb.check();
    hb.seen("a");
    hb.seen("b");
    now = 250;
    expect(hb.check()).toEqual([]);
    // This process was busy for 3 s: the next check comes late, and the heartbeats of that time wait unread.
    now = 3250;
    expect(hb.check()).toEqual([]);
    // What waited is read now: "a" was alive all along; "b" really is silent, and is found a timeout later.
    const found: string[] = [];
    while (now < 4250) {
      now += 250;
      hb.seen("a");
      found.push(...hb.check());
    }
    expect(found).toEqual(["b"]);
    expect(hb.isAlive("a")).toBe(true);
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
    for (now = 25; now <= 150; now += 25) tick?.();
    expect(dead).toEqual(["a"]);
    hb.stop();
  });
});
