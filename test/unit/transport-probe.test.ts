import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as zmq from "zeromq";
import { until } from "../helpers/until.ts";
import { ProbeTracker, RunDir, SendQueue, isProbeFrame, probeReply, probeSubscriber, probeTopic, uniqueAddress, type Transport } from "../../src/transport/index.ts";

/** Rejects when `p` takes longer than `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}


/**
 * A publisher as the runtime makes one: a verbose XPUB that answers every
 * probe subscription with its own id, and then at once publishes `burst`
 * messages on "data", "<publisher>><subscriber>:<i>" (what a runner does
 * when its first subscriber shows up).
 */
class Publisher {
  readonly socket = new zmq.XPublisher({ verbosity: "allSubs", linger: 0, sendHighWaterMark: 0 });
  readonly queue = new SendQueue(this.socket, (err) => {
    throw err;
  });
  /** Every subscription message the XPUB read, raw. */
  readonly frames: Buffer[] = [];
  /** Subscriber ids of the probes answered, in order. */
  readonly answered: string[] = [];
  private loop: Promise<void> | undefined;

  constructor(
    readonly id: string,
    private readonly burst = 100,
  ) {}

  async bind(address: string): Promise<string> {
    // A tcp port just released may take a moment to be free again.
    for (let attempt = 0; ; attempt++) {
      try {
        await this.socket.bind(address);
        break;
      } catch (err) {
        if ((err as { code?: string }).code !== "EADDRINUSE" || attempt >= 100) throw err;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    this.loop = this.read();
    return this.socket.lastEndpoint!;
  }

  private async read(): Promise<void> {
    try {
      for await (const [frame] of this.socket) {
        if (!frame) continue;
        this.frames.push(frame);
        const subscriber = probeSubscriber(frame);
        if (subscriber === undefined) continue;
        this.queue.send(probeReply(subscriber, this.id));
        for (let i = 0; i < this.burst; i++) this.queue.send(["data", `${this.id}>${subscriber}:${i}`]);
        this.answered.push(subscriber);
      }
    } catch (err) {
      if (!this.socket.closed) throw err;
    }
  }

  async close(): Promise<void> {
    this.queue.clear();
    this.socket.close();
    await this.loop;
  }
}

/** A subscriber as the runtime makes one: data topic first, then its probe topic; probe replies go to a ProbeTracker. */
class Subscriber {
  readonly socket = new zmq.Subscriber({ linger: 0, receiveHighWaterMark: 0 });
  readonly probes = new ProbeTracker();
  /** Everything received, in order: `probe:<publisher>` for a probe reply, else the data payload. */
  readonly log: string[] = [];
  private readonly loop: Promise<void>;

  constructor(readonly id: string) {
    this.socket.subscribe("data");
    this.socket.subscribe(probeTopic(id));
    this.loop = this.read();
  }

  private async read(): Promise<void> {
    try {
      for await (const frames of this.socket) {
        if (isProbeFrame(frames[0])) {
          const from = this.probes.record(frames);
          this.log.push(`probe:${from}`);
        } else this.log.push(frames[1]!.toString());
      }
    } catch (err) {
      if (!this.socket.closed) throw err;
    }
  }

  /** The burst `publisherId` sent right after answering this subscriber's probe. */
  data(publisherId: string): string[] {
    return this.log.filter((l) => l.startsWith(`${publisherId}>${this.id}:`));
  }

  async close(): Promise<void> {
    this.socket.close();
    await this.loop;
  }
}

const burst = (pub: string, sub: string, n: number) => Array.from({ length: n }, (_, i) => `${pub}>${sub}:${i}`);

for (const transport of ["ipc", "tcp"] as Transport[]) {
  describe(`transport probe over ${transport}`, () => {
    let dir: RunDir;
    const closers: Array<{ close(): Promise<void> }> = [];
    const track = <T extends { close(): Promise<void> }>(s: T) => (closers.push(s), s);

    beforeAll(async () => {
      dir = await RunDir.create();
    });
    afterAll(async () => {
      for (const c of closers) await c.close();
      await dir.cleanup();
    });

    it(`transport probe - ${transport} - the publisher answers the probe, the subscriber's wait resolves, nothing published after the answer is lost`, async () => {
      const pub = track(new Publisher("pub-1", 100));
      const address = await pub.bind(uniqueAddress(transport, dir));
      const subs = ["sub-a", "sub-b"].map((id) => track(new Subscriber(id)));
      for (const s of subs) s.socket.connect(address);

      for (const s of subs) await within(s.probes.waitFor(["pub-1"]), 5000, `${s.id}'s probe answer`);
      expect(pub.answered.sort()).toEqual(["sub-a", "sub-b"]);
      for (const s of subs) {
        expect(s.probes.has("pub-1")).toBe(true);
        expect(s.probes.missing(["pub-1", "pub-2"])).toEqual(["pub-2"]);
        await until(() => s.data("pub-1").length >= 100, 5000, `${s.id}'s data`);
        // the answer arrives first, then every message published after it, in order
        const answeredAt = s.log.indexOf("probe:pub-1");
        expect(answeredAt).toBeGreaterThanOrEqual(0);
        expect(answeredAt).toBeLessThan(s.log.indexOf(`pub-1>${s.id}:0`));
        expect(s.data("pub-1")).toEqual(burst("pub-1", s.id, 100));
      }
      // the data subscription reached the publisher before the probe did
      const topics = pub.frames.map((f) => [f[0], f.subarray(1).toString()]);
      for (const id of ["sub-a", "sub-b"]) {
        const probeAt = topics.findIndex(([, t]) => t === probeTopic(id));
        expect(topics.slice(0, probeAt).some(([op, t]) => op === 1 && t === "data")).toBe(true);
      }
    });

    it(`transport probe - ${transport} - after the publisher restarts at the same address, the reconnected subscriber is answered again`, async () => {
      const first = new Publisher("pub-r", 10);
      const address = await first.bind(uniqueAddress(transport, dir));
      const sub = track(new Subscriber("sub-r"));
      sub.socket.connect(address);
      await within(sub.probes.waitFor(["pub-r"]), 5000, "the first answer");
      await until(() => sub.data("pub-r").length >= 10, 5000, "the first burst");
      await first.close();

      // its replacement must answer again (what a runner does when an upstream runner is restarted)
      sub.probes.forget("pub-r");
      expect(sub.probes.has("pub-r")).toBe(false);
      sub.log.length = 0;
      const second = track(new Publisher("pub-r", 10));
      expect(await second.bind(address)).toBe(address);
      await within(sub.probes.waitFor(["pub-r"]), 5000, "the answer after the restart");
      expect(second.answered).toEqual(["sub-r"]);
      await until(() => sub.data("pub-r").length >= 10, 5000, "the burst after the restart");
      expect(sub.log[0]).toBe("probe:pub-r");
      expect(sub.data("pub-r")).toEqual(burst("pub-r", "sub-r", 10));
    });
  });
}

describe("transport probe - junk", () => {
  it("transport probe - probeSubscriber reads only probe subscriptions", () => {
    const sub = (topic: Buffer | string) => Buffer.concat([Buffer.from([1]), Buffer.from(topic)]);
    expect(probeSubscriber(sub(probeTopic("runner-a")))).toBe("runner-a");
    expect(probeSubscriber(sub(probeTopic("ünï")))).toBe("ünï");
    expect(probeSubscriber(Buffer.alloc(0))).toBeUndefined();
    expect(probeSubscriber(Buffer.from([1]))).toBeUndefined();
    expect(probeSubscriber(sub("data"))).toBeUndefined();
    expect(probeSubscriber(sub("\u0000probe"))).toBeUndefined(); // cut short
    expect(probeSubscriber(sub("probe:runner-a"))).toBeUndefined(); // no leading NUL
    expect(probeSubscriber(sub(Buffer.concat([Buffer.from([0xff]), Buffer.from("sub:runner-a")])))).toBeUndefined();
    // an unsubscription of a probe topic is not a probe
    expect(probeSubscriber(Buffer.concat([Buffer.from([0]), Buffer.from(probeTopic("runner-a"))]))).toBeUndefined();
    // anything else a peer may send upstream
    expect(probeSubscriber(Buffer.concat([Buffer.from([2]), Buffer.from(probeTopic("runner-a"))]))).toBeUndefined();
    expect(probeSubscriber(Buffer.from(probeTopic("runner-a")))).toBeUndefined();
  });

  it("transport probe - ProbeTracker ignores a reply without a publisher id", async () => {
    const t = new ProbeTracker();
    expect(t.record([Buffer.from(probeTopic("me"))])).toBeUndefined();
    expect(t.record([Buffer.from(probeTopic("me")), Buffer.alloc(0)])).toBeUndefined();
    expect(t.missing(["p"])).toEqual(["p"]);
    const waited = t.waitFor(["p", "q"]);
    expect(t.record(probeReply("me", "p"))).toBe("p");
    expect(t.record(probeReply("me", "q"))).toBe("q");
    await within(waited, 100, "both replies");
    await within(t.waitFor([]), 100, "nothing");
  });

  it("transport probe - junk sent to a publisher is ignored, a probe after it is still answered", async () => {
    const pub = new Publisher("pub-j", 3);
    const address = await pub.bind(uniqueAddress("tcp"));
    // an XSUB can send anything upstream: subscriptions, unsubscriptions, and plain messages
    const peer = new zmq.XSubscriber({ linger: 0 });
    peer.connect(address);
    const junk = [
      Buffer.from("hello"),
      Buffer.from([2, 3, 4]),
      Buffer.concat([Buffer.from([0]), Buffer.from(probeTopic("gone"))]),
      Buffer.concat([Buffer.from([1]), Buffer.from("\u0000probe")]),
      Buffer.concat([Buffer.from([1, 0xff]), Buffer.from("sub:old-style")]),
      Buffer.concat([Buffer.from([1]), Buffer.from("data")]),
    ];
    for (const j of junk) await peer.send(j);
    await peer.send(Buffer.concat([Buffer.from([1]), Buffer.from(probeTopic("x-peer"))]));

    const [topic, id] = await within(peer.receive(), 5000, "the probe answer");
    expect(isProbeFrame(topic)).toBe(true);
    expect(topic!.toString()).toBe(probeTopic("x-peer"));
    expect(id!.toString()).toBe("pub-j");
    expect(pub.answered).toEqual(["x-peer"]);
    // the junk did reach the publisher, and only the probe was answered
    expect(pub.frames.some((f) => f.equals(Buffer.from("hello")))).toBe(true);
    expect(pub.frames.some((f) => f.equals(Buffer.from([2, 3, 4])))).toBe(true);
    const data = [];
    for (let i = 0; i < 3; i++) data.push((await within(peer.receive(), 5000, "data"))[1]!.toString());
    expect(data).toEqual(burst("pub-j", "x-peer", 3));
    peer.close();
    await pub.close();
  });
});
