import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as zmq from "zeromq";
import { Codec, DropCounter, makeMessage } from "../../src/protocol/index.ts";
import {
  ZapAuthenticator,
  curveClientOptions,
  curveServerOptions,
  generateKeyPair,
  isZ85Key,
  loadTrustDir,
  readKeyPair,
  writeKeyPair,
  z85Decode,
  z85Encode,
  type CurveKeyPair,
} from "../../src/transport/index.ts";

describe("transport curve - keys", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tubular-keys-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("transport curve - z85 matches the RFC 32 test vector and round-trips keys", () => {
    const bytes = Buffer.from([0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b]);
    expect(z85Encode(bytes)).toBe("HelloWorld");
    expect(z85Decode("HelloWorld")).toEqual(bytes);
    const kp = generateKeyPair();
    expect(isZ85Key(kp.publicKey)).toBe(true);
    expect(z85Encode(z85Decode(kp.publicKey))).toBe(kp.publicKey);
  });

  it("transport curve - key pairs are written with a private secret and read back", async () => {
    const kp = generateKeyPair();
    await writeKeyPair(join(dir, "me"), kp);
    expect((await stat(join(dir, "me", "secret.key"))).mode & 0o777).toBe(0o600);
    expect(await readKeyPair(join(dir, "me"))).toEqual(kp);
    await expect(readKeyPair(join(dir, "nope"))).rejects.toMatchObject({ code: "TUBULAR_ERR_KEY" });
  });

  it("transport curve - a trust directory yields every public key file, whatever its name", async () => {
    const trust = join(dir, "trust");
    await writeKeyPair(trust, generateKeyPair()); // public.key and secret.key
    const a = generateKeyPair().publicKey;
    await writeFile(join(trust, "host-a"), `# host a\n${a}\n`);
    await writeFile(join(trust, "README"), "not a key");
    await writeFile(join(trust, ".hidden"), a);
    const keys = await loadTrustDir(trust);
    expect(keys.has(a)).toBe(true);
    expect(keys.size).toBe(2); // public.key and host-a; never secret.key
  });
});

/** A ROUTER as the command node binds its inbox: a CURVE server with the runtime's options, read into a queue. */
async function curveRouter(keys: CurveKeyPair) {
  const router = new zmq.Router({ linger: 0, handover: true });
  Object.assign(router, curveServerOptions(keys));
  await router.bind("tcp://127.0.0.1:0");
  const inbox: Buffer[][] = [];
  let wake: (() => void) | undefined;
  void (async () => {
    for await (const frames of router) {
      inbox.push(frames);
      wake?.();
    }
  })().catch(() => {});
  /** The next message, or "none" after `ms`. */
  const next = async (ms: number): Promise<Buffer[] | "none"> => {
    if (inbox.length === 0) {
      await Promise.race([new Promise<void>((r) => (wake = r)), new Promise((r) => setTimeout(r, ms))]);
      wake = undefined;
    }
    return inbox.shift() ?? "none";
  };
  return { router, address: router.lastEndpoint!, next };
}

/** A DEALER as a runner connects its control socket: a CURVE client of `server`. */
function curveDealer(id: string, keys: CurveKeyPair, server: CurveKeyPair): zmq.Dealer {
  return new zmq.Dealer({ routingId: id, linger: 0, ...curveClientOptions(keys, server.publicKey) });
}

/** Retries `f` until it resolves: libzmq frees a closed socket's inproc endpoint in its reaper thread, shortly after close. */
async function eventually<T>(f: () => Promise<T>, ms = 2000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await f();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

// First in this file (its own process), so nothing else holds the ZAP endpoint yet.
describe("transport curve - one shared ZAP handler", () => {
  it("transport curve - two users acquire one handler; releasing one keeps the other's keys, the last release closes it", async () => {
    const server = generateKeyPair();
    const a = generateKeyPair();
    const b = generateKeyPair();
    const both = generateKeyPair();
    const first = await ZapAuthenticator.acquire([server.publicKey, a.publicKey, both.publicKey]);
    const second = await ZapAuthenticator.acquire([server.publicKey, b.publicKey, both.publicKey]);
    expect(second.zap).toBe(first.zap);
    const zap = first.zap;
    for (const k of [server, a, b, both]) expect(zap.trusted.has(k.publicKey)).toBe(true);

    const { router, address, next } = await curveRouter(server);
    /** Whether a client with `keys` gets a message through to the router. */
    const getsThrough = async (id: string, keys: CurveKeyPair) => {
      const d = curveDealer(id, keys, server);
      d.connect(address);
      const sent = d.send(Buffer.from(id)).catch(() => {});
      const got = await next(300);
      d.close();
      await sent;
      return got !== "none" && got[0]!.toString() === id;
    };
    expect(await getsThrough("a-1", a)).toBe(true);
    expect(await getsThrough("b-1", b)).toBe(true);

    await first.release();
    await first.release(); // a second release by the same user changes nothing
    expect(zap.trusted.has(a.publicKey)).toBe(false);
    for (const k of [server, b, both]) expect(zap.trusted.has(k.publicKey)).toBe(true);
    expect(await getsThrough("a-2", a)).toBe(false);
    expect(await getsThrough("b-2", b)).toBe(true);
    expect(await getsThrough("both", both)).toBe(true);
    expect(zap.stats().refused).toBeGreaterThanOrEqual(1);

    await second.release();
    expect(zap.trusted.size).toBe(0);
    router.close();
    // closed: the ZAP endpoint is free again
    const after = await eventually(() => ZapAuthenticator.start());
    await after.close();
  });
});

describe("transport curve - ZAP over tcp", () => {
  let server: CurveKeyPair;
  let trusted: CurveKeyPair;
  let zap: ZapAuthenticator;

  beforeAll(async () => {
    server = generateKeyPair();
    trusted = generateKeyPair();
    zap = await eventually(() => ZapAuthenticator.start({ trusted: [trusted.publicKey] }));
  });
  afterAll(() => zap.close());

  it("transport curve - curve options: a server enforces ZAP, a client needs a z85 server key", () => {
    expect(curveServerOptions(server)).toMatchObject({ curveServer: true, zapEnforceDomain: true, curvePublicKey: server.publicKey });
    expect(() => curveClientOptions(trusted, "not a key")).toThrow(expect.objectContaining({ code: "TUBULAR_ERR_KEY" }));
  });

  it("transport curve - a second ZAP handler in the same context is refused", async () => {
    await expect(ZapAuthenticator.start()).rejects.toMatchObject({ code: "TUBULAR_ERR_AUTH" });
  });

  it("transport curve - a trusted client exchanges messages, an untrusted key gets nothing through", async () => {
    const drops = new DropCounter();
    const codec = new Codec({ drops });
    const { router, address, next } = await curveRouter(server);
    const good = curveDealer("good", trusted, server);
    const bad = curveDealer("bad", generateKeyPair(), server);
    const authFailed = new Promise<void>((resolve) => bad.events.on("handshake:error:auth", () => resolve()));
    bad.connect(address);
    good.connect(address);
    const sends = [
      bad.send(codec.encode(makeMessage("status", "bad", { status: "ready" }))),
      // garbage from a trusted peer is dropped and counted by the codec; the next message gets through
      good.send([Buffer.from([0xc1, 0x00, 0xff])]).then(() => good.send(codec.encode(makeMessage("status", "good", { status: "ready" })))),
    ];

    let got: ReturnType<Codec["decodeRouterSafe"]>;
    do {
      const frames = await next(5000);
      if (frames === "none") throw new Error("nothing arrived from the trusted client");
      got = codec.decodeRouterSafe(frames);
    } while (!got);
    expect(got.identity.toString()).toBe("good");
    expect(got.message).toMatchObject({ type: "status", node_id: "good" });
    expect(drops.stats().garbage).toBe(1);
    await router.send([Buffer.from("good"), ...codec.encode(makeMessage("ping", "command", null))]);
    expect(codec.decodeSafe(await good.receive())).toMatchObject({ type: "ping" });

    await authFailed;
    // nothing from the intruder arrived
    expect(await next(200)).toBe("none");
    expect(zap.stats().refused).toBeGreaterThanOrEqual(1);
    expect(zap.stats().accepted).toBeGreaterThanOrEqual(1);
    for (const s of [good, bad, router]) s.close();
    await Promise.allSettled(sends);
  });

  it("transport curve - a plain (non-CURVE) client cannot talk to a CURVE server", async () => {
    const { router, address, next } = await curveRouter(server);
    const plain = new zmq.Dealer({ routingId: "plain", linger: 0 });
    plain.connect(address);
    void plain.send(Buffer.from("x")).catch(() => {});
    expect(await next(300)).toBe("none");
    plain.close();
    router.close();
  });
});
