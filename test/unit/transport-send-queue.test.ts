import { describe, expect, it } from "vitest";
import * as zmq from "zeromq";
import { ProbeTracker, SendQueue, isProbeFrame, probeReply, probeSubscriber, probeTopic, uniqueAddress } from "../../src/transport/index.ts";

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

describe("transport send queue - on a real socket", () => {
  it("transport send queue - a burst past the high water mark is retried on EAGAIN and arrives in order, none dropped", async () => {
    // With ZMQ_XPUB_NODROP a full XPUB rejects the send with EAGAIN instead of dropping the message.
    const pub = new zmq.XPublisher({ verbosity: "allSubs", noDrop: true, sendHighWaterMark: 50, linger: 0 });
    let eagain = 0;
    const counted = {
      get closed() {
        return pub.closed;
      },
      send: (frames: Array<Buffer | string>) =>
        pub.send(frames).catch((err: unknown) => {
          if ((err as { code?: string }).code === "EAGAIN") eagain++;
          throw err;
        }),
    };
    const errors: unknown[] = [];
    const q = new SendQueue(counted, (e) => errors.push(e));
    const address = uniqueAddress("inproc");
    await pub.bind(address);
    void (async () => {
      for await (const [frame] of pub) {
        const id = frame && probeSubscriber(frame);
        if (id !== undefined) q.send(probeReply(id, "pub"));
      }
    })().catch(() => {});

    const sub = new zmq.Subscriber({ receiveHighWaterMark: 50, linger: 0 });
    sub.subscribe("up");
    sub.subscribe(probeTopic("slow"));
    sub.connect(address);
    const probes = new ProbeTracker();
    for (;;) {
      const frames = await sub.receive();
      if (isProbeFrame(frames[0]) && probes.record(frames) === "pub") break;
    }

    const n = 5000;
    for (let i = 0; i < n; i++) q.send(["up", String(i)]);
    expect(q.queued).toBeGreaterThan(0);
    const got: string[] = [];
    while (got.length < n) got.push((await sub.receive())[1]!.toString());
    expect(got).toEqual(Array.from({ length: n }, (_, i) => String(i)));
    await q.drained();
    expect(q.queued).toBe(0);
    expect(eagain).toBeGreaterThan(0);
    expect(errors).toEqual([]);
    sub.close();
    pub.close();
  });
});
