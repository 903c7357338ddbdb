import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as zmq from "zeromq";
import { makeMessage } from "../../src/protocol/index.ts";
import {
  CommandInbox,
  RunnerControl,
  ZapAuthenticator,
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

describe("transport curve - ZAP over tcp", () => {
  let server: CurveKeyPair;
  let trusted: CurveKeyPair;
  let zap: ZapAuthenticator;

  beforeAll(async () => {
    server = generateKeyPair();
    trusted = generateKeyPair();
    zap = await ZapAuthenticator.start({ trusted: [trusted.publicKey] });
  });
  afterAll(() => zap.close());

  it("transport curve - a second ZAP handler in the same context is refused", async () => {
    await expect(ZapAuthenticator.start()).rejects.toMatchObject({ code: "TUBULAR_ERR_AUTH" });
  });

  it("transport curve - a trusted client exchanges messages, an untrusted key gets nothing through", async () => {
    const inbox = new CommandInbox({ curve: { role: "server", keys: server } });
    const address = await inbox.bind("tcp://127.0.0.1:0");
    const good = new RunnerControl({ id: "good", curve: { role: "client", keys: trusted, serverPublicKey: server.publicKey } });
    const intruderKeys = generateKeyPair();
    const bad = new RunnerControl({ id: "bad", curve: { role: "client", keys: intruderKeys, serverPublicKey: server.publicKey } });
    const authFailed = new Promise<void>((resolve) => bad.socket.events.on("handshake:error:auth", () => resolve()));
    bad.connect(address);
    good.connect(address);
    bad.send(makeMessage("status", "bad", { status: "ready" }));
    good.send(makeMessage("status", "good", { status: "ready" }));

    const it = inbox.messages();
    const first = await it.next();
    expect(first.value).toMatchObject({ peer: "good", message: { type: "status", node_id: "good" } });
    inbox.sendTo("good", makeMessage("ping", "command", null));
    const reply = await good.messages().next();
    expect(reply.value).toMatchObject({ type: "ping" });

    await authFailed;
    // nothing from the intruder arrived
    const more = await Promise.race([it.next().then(() => "message"), new Promise((r) => setTimeout(() => r("none"), 200))]);
    expect(more).toBe("none");
    expect(zap.stats().refused).toBeGreaterThanOrEqual(1);
    expect(zap.stats().accepted).toBeGreaterThanOrEqual(1);
    for (const s of [good, bad, inbox]) s.close();
  });

  it("transport curve - a plain (non-CURVE) client cannot talk to a CURVE server", async () => {
    const inbox = new CommandInbox({ curve: { role: "server", keys: server } });
    const address = await inbox.bind("tcp://127.0.0.1:0");
    const plain = new zmq.Dealer({ routingId: "plain", linger: 0 });
    plain.connect(address);
    void plain.send(Buffer.from("x")).catch(() => {});
    const got = await Promise.race([inbox.messages().next().then(() => "message"), new Promise((r) => setTimeout(() => r("none"), 300))]);
    expect(got).toBe("none");
    plain.close();
    inbox.close();
  });
});
