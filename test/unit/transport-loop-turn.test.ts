/**
 * LoopTurn holds a read loop back by a timer tick only when the loop has kept
 * the timers from running for its budget, never when it was idle between
 * messages (which cost chain3 a 1 ms stall in about one call in 80).
 */
import { describe, expect, it } from "vitest";
import { LoopTurn } from "../../src/transport/loop-turn.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("transport loop turn", () => {
  it("transport loop turn - a loop that waits between messages is never held back, however long it runs", async () => {
    const loop = new LoopTurn(20);
    let heldBack = 0;
    const end = performance.now() + 150;
    while (performance.now() < end) {
      const wait = loop.turn();
      if (wait) {
        heldBack++;
        await wait;
      }
      // The next message comes after an idle wait (the timers phase runs).
      await sleep(2);
    }
    loop.close();
    expect(heldBack).toBe(0);
  });

  it("transport loop turn - a loop that never lets the timers run is held back once its budget is spent, then runs on", async () => {
    const loop = new LoopTurn(20);
    const t0 = performance.now();
    let wait: Promise<void> | undefined;
    // Back-to-back messages: only microtasks between turns, the timers phase never comes.
    while (!(wait = loop.turn())) {
      if (performance.now() - t0 > 5000) throw new Error("never held back");
      await Promise.resolve();
    }
    expect(performance.now() - t0).toBeGreaterThanOrEqual(20);
    await wait;
    expect(loop.turn()).toBeUndefined();
    loop.close();
  });
});
