/**
 * Fuzz: the HTTP upgrade path and the WebSocket framing of a bridge in its own
 * process. Arbitrary request lines, targets and headers, then arbitrary
 * frames after a good upgrade (any opcode, reserved bits, unmasked, bad
 * lengths, fragments, invalid UTF-8): the server answers every request head
 * with an HTTP status (or closes), never exits, stays under the RSS bound, and
 * serves a well-behaved client right afterwards.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bridgeProcess, FUZZ_KEY, wellBehaved, type BridgeReady } from "./bridge-served.ts";
import type { Served } from "./child-process.ts";
import { fuzzParams, fuzzTimeout, RSS_BOUND_BYTES } from "./fuzz-config.ts";
import { clientFrame, connectTcp, firstResponse, OP, ServerReader, textFrame, upgradeRequest } from "./ws-wire.ts";

let served: Served<BridgeReady>;
// Starting a process through tsx takes seconds on a loaded machine.
beforeAll(async () => {
  served = await bridgeProcess({ deadPeerMs: 5000 });
}, 90_000);
afterAll(async () => {
  if (served) console.log(`bridge upgrade fuzz: server peak RSS ${(served.peakRss() / 2 ** 20).toFixed(0)} MiB`);
  await served?.stop();
});

const targetChars = fc.constantFrom(..."/%[]:@?#\\.az09-_~!$&'()*+,;=", "%zz", "%00", "//", "..", "ws/v0/rpc/", "é", "\u0000");
const target = fc.oneof(
  fc.constantFrom("/ws/v0/rpc/", "/ws/v0/rpc", "//", "//%zz", "http://[::1", "http://x:99999/", "*", "", "/health", "http://x/ws/v0/rpc/", "/ws/v0/rpc/?session_id=%zz"),
  fc.array(targetChars, { maxLength: 20 }).map((a) => a.join("")),
  fc.webUrl({ withQueryParameters: true, withFragments: true }),
  fc.string({ maxLength: 40 }).map((s) => `/${s}`),
);
/** Header values without CR/LF: a request head that never ends is a slowloris, tested elsewhere. */
const headerValue = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ maxLength: 40, unit: "binary" })).map((s) => s.replace(/[\r\n]/g, " "));
const headers = fc.record(
  {
    Upgrade: fc.oneof(fc.constant("websocket"), headerValue),
    Connection: fc.oneof(fc.constant("Upgrade"), headerValue),
    "Sec-WebSocket-Key": fc.oneof(fc.constant("dGhlIHNhbXBsZSBub25jZQ=="), headerValue),
    "Sec-WebSocket-Version": fc.oneof(fc.constant("13"), fc.constantFrom("8", "0", "13, 8"), headerValue),
    Authorization: fc.oneof(fc.constant(`Api-Key ${FUZZ_KEY}`), fc.constant(`Bearer ${FUZZ_KEY}`), fc.constant("Api-Key wrong"), headerValue),
    "X-Tubular-Session": headerValue,
    "Sec-WebSocket-Extensions": fc.oneof(fc.constant("permessage-deflate"), headerValue),
  },
  { requiredKeys: [] },
);
const requestHead = fc.record({ method: fc.oneof(fc.constantFrom("GET", "POST", "HEAD", "OPTIONS"), fc.stringMatching(/^[A-Z]{1,8}$/)), target, headers }).map(({ method, target, headers }) => {
  const lines = [`${method} ${target} HTTP/1.1`, "Host: x", ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  return Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1");
});

const payload = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }).map((v) => Buffer.from(JSON.stringify(v) ?? "null")),
  fc.constantFrom('{"jsonrpc":"2.0","method":"session.info","id":1}', '[{"jsonrpc":"2.0","method":"rpc.discover","id":2}]', "{").map((s) => Buffer.from(s)),
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  fc.constant(Buffer.from([0xc3, 0x28, 0xff])), // invalid UTF-8
);
const frameSpec = fc.record({
  opcode: fc.oneof(fc.constantFrom(OP.text, OP.binary, OP.ping, OP.pong, OP.continuation, OP.close), fc.integer({ min: 0, max: 15 })),
  fin: fc.boolean(),
  rsv: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 7 })),
  mask: fc.oneof(fc.constant(true), fc.constant(true), fc.constant(false)),
  payload,
});
const frameBytes = fc.oneof(
  { weight: 8, arbitrary: frameSpec.map((f) => clientFrame(f.opcode, f.payload, { fin: f.fin, rsv: f.rsv, mask: f.mask })) },
  // A header declaring a huge length, then little data.
  { weight: 1, arbitrary: fc.constant(Buffer.from([0x81, 0xff, 0, 0, 1, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5])) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)) },
);

function assertServerFine(): void {
  expect(served.unexpectedExit(), served.stderr()).toBeUndefined();
  expect(served.peakRss()).toBeLessThan(RSS_BOUND_BYTES);
}

describe("bridge upgrade fuzz", () => {
  it(
    "answers every request head with an HTTP status or a close, and never exits",
    async () => {
      await fc.assert(
        fc.asyncProperty(requestHead, async (head) => {
          const { head: response, closedByServer } = await firstResponse(served.ready.port, head);
          if (response !== undefined) expect(response).toMatch(/^HTTP\/1\.1 [1-5]\d\d /);
          else expect(closedByServer).toBe(true);
          assertServerFine();
        }),
        fuzzParams(60),
      );
      await wellBehaved(served.ready.port);
    },
    fuzzTimeout(60_000),
  );

  it(
    "survives arbitrary frames after a good upgrade, and a bad frame costs only its own connection",
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(frameBytes, { minLength: 1, maxLength: 6 }), async (frames) => {
          const socket = await connectTcp(served.ready.port);
          const reader = new ServerReader();
          const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
          socket.on("error", () => undefined);
          socket.on("data", (c) => reader.push(c));
          socket.write(upgradeRequest({ path: "/ws/v0/rpc/", headers: { Authorization: `Api-Key ${FUZZ_KEY}` } }));
          for (const f of frames) socket.write(f);
          socket.write(textFrame('{"jsonrpc":"2.0","method":"session.info","id":"last"}'));
          socket.write(clientFrame(OP.close, Buffer.from([0x03, 0xe8])));
          // The server closes (it answers our close, or closed first on a protocol error), or waits for bytes a bad length promised.
          await Promise.race([closed, new Promise((r) => setTimeout(r, 1000))]);
          socket.destroy();
          expect(reader.status).toBe(101);
          for (const f of reader.frames.filter((x) => x.opcode === OP.text)) expect(() => JSON.parse(f.payload.toString("utf8"))).not.toThrow();
          assertServerFine();
        }),
        fuzzParams(40),
      );
      await wellBehaved(served.ready.port);
    },
    fuzzTimeout(90_000),
  );
});
