import { describe, expect, it } from "vitest";
import { SendQueue } from "../../src/transport/index.ts";

function fakeSocket(failEvery: number, code = "EAGAIN") {
  const sent: string[] = [];
  let calls = 0;
  let inProgress = false;
  return {
    sent,
    closed: false,
    send(frames: Array<Buffer | string>): Promise<void> {
      if (inProgress) {
        const e = Object.assign(new Error("busy"), { code: "EBUSY" });
        throw e;
      }
      calls++;
      if (failEvery > 0 && calls % failEvery === 0) return Promise.reject(Object.assign(new Error(code), { code }));
      inProgress = true;
      return Promise.resolve().then(() => {
        inProgress = false;
        sent.push(String(frames[0]));
      });
    },
  };
}

describe("transport send queue", () => {
  it("transport send queue - a burst goes out in order, one send at a time", async () => {
    const s = fakeSocket(0);
    const q = new SendQueue(s, (e) => {
      throw e;
    });
    for (let i = 0; i < 1000; i++) q.send([String(i)]);
    expect(q.queued).toBe(999);
    await q.drained();
    expect(s.sent).toEqual(Array.from({ length: 1000 }, (_, i) => String(i)));
  });

  it("transport send queue - EAGAIN is retried in place, other errors drop the message", async () => {
    const s = fakeSocket(7);
    const q = new SendQueue(s, () => {});
    for (let i = 0; i < 100; i++) q.send([String(i)]);
    await q.drained();
    expect(s.sent).toEqual(Array.from({ length: 100 }, (_, i) => String(i)));

    const errors: unknown[] = [];
    const s2 = fakeSocket(3, "EHOSTUNREACH");
    const q2 = new SendQueue(s2, (e) => errors.push(e));
    for (let i = 0; i < 9; i++) q2.send([String(i)]);
    await q2.drained();
    expect(s2.sent).toEqual(["0", "1", "3", "4", "6", "7"]);
    expect(errors).toHaveLength(3);
  });

  it("transport send queue - send reports the high water mark", async () => {
    const q = new SendQueue(fakeSocket(0), () => {}, 3);
    const results = [0, 1, 2, 3, 4].map((i) => q.send([String(i)]));
    expect(results).toEqual([true, true, true, false, false]);
    await q.drained();
    expect(q.queued).toBe(0);
  });
});
