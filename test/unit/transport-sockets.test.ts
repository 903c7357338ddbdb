import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as zmq from "zeromq";
import { Codec, DropCounter, makeMessage, type Message, type MessageOf } from "../../src/protocol/index.ts";
import { CommandInbox, CommandOutbox, NodeOutbox, RunDir, RunnerControl, Subscription, uniqueAddress, type Transport } from "../../src/transport/index.ts";

async function take<T>(it: AsyncIterator<T>, n: number, timeoutMs = 5000): Promise<T[]> {
  const out: T[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < n) {
    const left = deadline - Date.now();
    const r = await Promise.race([it.next(), new Promise<"timeout">((res) => setTimeout(() => res("timeout"), Math.max(0, left)))]);
    if (r === "timeout") throw new Error(`timed out after ${out.length} of ${n}`);
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

const event = (from: string, i: number, value: unknown = i): Message =>
  makeMessage("event", from, { events: [{ id: i, timestamp: Date.now(), node_id: from, signal: "v", epoch: i, value }], done: [[from, String(i)]] });

for (const transport of ["ipc", "tcp"] as Transport[]) {
  describe(`transport sockets over ${transport}`, () => {
    let dir: RunDir;
    const closers: Array<{ close(): void }> = [];
    const track = <T extends { close(): void }>(s: T) => (closers.push(s), s);
    const addr = () => uniqueAddress(transport, dir);

    beforeAll(async () => {
      dir = await RunDir.create();
    });
    afterAll(async () => {
      for (const c of closers) c.close();
      await dir.cleanup();
    });

    it(`transport sockets - ${transport} - command outbox publishes to runner subscriptions on the command's topic`, async () => {
      const out = track(new CommandOutbox());
      const address = await out.bind(addr());
      const sub = track(new Subscription({ id: "runner-a" }));
      sub.subscribe("command");
      sub.connect(address);
      const other = track(new Subscription());
      other.subscribe("someone-else");
      other.connect(address);
      const it = sub.messages();
      // a plain PUB cannot see subscribers: publish until the first message arrives
      const first = it.next();
      let got: IteratorResult<Message> | undefined;
      void first.then((r) => (got = r));
      while (!got) {
        out.publish(makeMessage("ping", "command", null));
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(got.value).toMatchObject({ type: "ping", node_id: "command" });
      out.publish(makeMessage("start", "command", { n: 3 }));
      let m: Message | undefined;
      do m = (await take(it, 1))[0];
      while (m?.type === "ping");
      expect(m).toMatchObject({ type: "start", value: { n: 3 } });
      const o = await Promise.race([other.messages().next().then(() => "got"), new Promise((r) => setTimeout(() => r("none"), 100))]);
      expect(o).toBe("none");
    });

    it(`transport sockets - ${transport} - dealer and router talk both ways, by runner id`, async () => {
      const inbox = track(new CommandInbox());
      const address = await inbox.bind(addr());
      const a = track(new RunnerControl({ id: "runner-a" }));
      const b = track(new RunnerControl({ id: "runner-b" }));
      a.connect(address);
      b.connect(address);
      a.send(makeMessage("status", "runner-a", { status: "ready" }));
      b.send(makeMessage("status", "runner-b", { status: "waiting" }));
      const got = await take(inbox.messages(), 2);
      expect(got.map((g) => g.peer).sort()).toEqual(["runner-a", "runner-b"]);
      expect(got.find((g) => g.peer === "runner-b")?.message).toMatchObject({ type: "status", value: { status: "waiting" } });
      inbox.sendTo("runner-b", makeMessage("init", "command", null));
      const [m] = await take(b.messages(), 1);
      expect(m).toMatchObject({ type: "init" });
    });

    it(`transport sockets - ${transport} - node outbox proves subscriptions, then no event is lost`, async () => {
      const out = track(new NodeOutbox());
      const address = await out.bind(addr());
      const joined: string[] = [];
      out.onSubscriber((id, on) => on && joined.push(id));
      const subs = ["down-1", "down-2"].map((id) => {
        const s = track(new Subscription({ id }));
        s.subscribe("up");
        s.connect(address);
        return s;
      });
      await out.waitForSubscribers(["down-1", "down-2"], 3000);
      expect(out.subscribers().sort()).toEqual(["down-1", "down-2"]);
      expect(joined.sort()).toEqual(["down-1", "down-2"]);
      expect(out.subscriptionCount).toBeGreaterThanOrEqual(2);
      const n = 200;
      for (let i = 0; i < n; i++) out.publish(event("up", i));
      out.publish(event("up", n, { big: new Float32Array(4096).fill(0.5), buf: Buffer.alloc(5000, 1) }));
      for (const s of subs) {
        const got = (await take(s.messages(), n + 1)) as Array<MessageOf<"event">>;
        expect(got.map((m) => m.value.events[0]!.id)).toEqual(Array.from({ length: n + 1 }, (_, i) => i));
        const last = got[n]!.value.events[0]!.value as { big: Float32Array; buf: Buffer };
        expect(last.big).toBeInstanceOf(Float32Array);
        expect(last.big[4095]).toBe(0.5);
        expect(Buffer.isBuffer(last.buf)).toBe(true);
      }
    });

    it(`transport sockets - ${transport} - a topic subscribed after connecting is in place once the subscriber is seen again`, async () => {
      const out = track(new NodeOutbox());
      const address = await out.bind(addr());
      const s = track(new Subscription({ id: "late" }));
      s.subscribe("a");
      s.connect(address);
      await out.waitForSubscribers(["late"], 3000);
      const events: Array<[string, boolean]> = [];
      const rejoined = new Promise<void>((r) => out.onSubscriber((id, on) => (events.push([id, on]), on && r())));
      s.subscribe("b");
      await rejoined;
      expect(events).toEqual([["late", false], ["late", true]]);
      out.publish(event("b", 1));
      const [m] = await take(s.messages(), 1);
      expect(m?.node_id).toBe("b");
    });

    it(`transport sockets - ${transport} - waiting for a subscriber that never comes times out`, async () => {
      const out = track(new NodeOutbox());
      await out.bind(addr());
      await expect(out.waitForSubscribers(["ghost"], 100)).rejects.toMatchObject({ code: "TUBULAR_ERR_RUNNER_TIMEOUT" });
      await expect(out.waitForSubscribers(0, 100)).resolves.toBeUndefined();
    });

    it(`transport sockets - ${transport} - a closed subscriber is seen leaving`, async () => {
      const out = track(new NodeOutbox());
      const address = await out.bind(addr());
      const s = new Subscription({ id: "leaver" });
      s.subscribe("up");
      s.connect(address);
      await out.waitForSubscribers(1, 3000);
      const left = new Promise<string>((r) => out.onSubscriber((id, on) => !on && r(id)));
      s.close();
      expect(await left).toBe("leaver");
      expect(out.subscribers()).toEqual([]);
    });
  });
}

describe("transport sockets - robustness", () => {
  it("transport sockets - garbage from a peer is dropped and counted, the next message gets through", async () => {
    const drops = new DropCounter();
    const inbox = new CommandInbox({ codec: new Codec({ drops }) });
    const address = await inbox.bind(uniqueAddress("tcp"));
    const raw = new zmq.Dealer({ routingId: "raw", linger: 0 });
    raw.connect(address);
    await raw.send([Buffer.from([0xc1, 0x00, 0xff])]);
    await raw.send(new Codec().encode(makeMessage("ping", "raw", null)));
    const [m] = await take(inbox.messages(), 1);
    expect(m?.message.type).toBe("ping");
    expect(drops.stats().garbage).toBe(1);
    raw.close();
    inbox.close();
  });

  it("transport sockets - a burst past the high water mark is queued in order, not dropped", async () => {
    const out = new NodeOutbox({ sendHighWaterMark: 50 });
    const address = await out.bind(uniqueAddress("inproc"));
    const sub = new Subscription({ id: "slow", receiveHighWaterMark: 50 });
    sub.subscribe("up");
    sub.connect(address);
    await out.waitForSubscribers(["slow"], 3000);
    const n = 5000;
    for (let i = 0; i < n; i++) out.publish(event("up", i));
    expect(out.queued).toBeGreaterThan(0);
    const got = (await take(sub.messages(), n, 15_000)) as Array<MessageOf<"event">>;
    expect(got).toHaveLength(n);
    expect(got.every((m, i) => m.value.events[0]!.id === i)).toBe(true);
    await out.drained();
    expect(out.queued).toBe(0);
    sub.close();
    out.close();
  });
});
