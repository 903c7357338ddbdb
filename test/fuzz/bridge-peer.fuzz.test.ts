/**
 * Fuzz: the JSON-RPC peer (both the server's sessions and the client are one).
 * Arbitrary text, arbitrary JSON and request-shaped messages, alone and in
 * batches: receive() never throws, every frame it sends is a valid JSON-RPC
 * response within the size limit, it answers exactly the messages the spec
 * says it must answer, and it still answers right afterwards.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RpcFailure, RpcSuccess } from "../../src/bridge/jsonrpc.ts";
import { JsonRpcPeer, type Handler } from "../../src/bridge/peer.ts";
import { fuzzParams, fuzzTimeout } from "./fuzz-config.ts";

const MAX_BYTES = 4096;
const MAX_BATCH = 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const handlers: Record<string, Handler> = {
  echo: (p) => p ?? null,
  big: (p) => "x".repeat(Math.min(20_000, Math.max(0, Number((p as { n?: unknown })?.n) || 0))),
  fail: () => {
    throw new Error("boom");
  },
  slow: () => sleep(2).then(() => "late"),
};

/** Whether the spec (and tubular's strictness) makes `m` a request or notification to run. */
function isValidRequest(m: unknown): m is { id?: unknown } {
  if (typeof m !== "object" || m === null || Array.isArray(m)) return false;
  const o = m as Record<string, unknown>;
  if (Object.keys(o).some((k) => !["jsonrpc", "method", "params", "id"].includes(k))) return false;
  if (o.jsonrpc !== "2.0" || typeof o.method !== "string") return false;
  if (o.params !== undefined && (typeof o.params !== "object" || o.params === null)) return false;
  return o.id === undefined || o.id === null || typeof o.id === "string" || typeof o.id === "number";
}

function isResponseShaped(m: unknown): boolean {
  return typeof m === "object" && m !== null && !Array.isArray(m) && !("method" in m) && ("result" in m || "error" in m);
}

/** How many responses one incoming message must get. */
function expectedReplies(m: unknown): number {
  if (isResponseShaped(m)) return 0;
  if (isValidRequest(m)) return m.id === undefined ? 0 : 1;
  return 1;
}

function expectedForFrame(text: string): number {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return 1;
  }
  if (!Array.isArray(m)) return expectedReplies(m);
  if (m.length === 0 || m.length > MAX_BATCH) return 1;
  return m.reduce((n: number, e) => n + expectedReplies(e), 0);
}

const id = fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.constant(null), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constant(undefined));
const method = fc.oneof(fc.constantFrom("echo", "big", "fail", "slow", "nope", "heartbeat"), fc.string({ maxLength: 300 }));
const params = fc.oneof(fc.constant(undefined), fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 2 })), fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 4 }), fc.record({ n: fc.integer({ min: 0, max: 20_000 }) }), fc.jsonValue({ maxDepth: 1 }));
const requestLike = fc
  .record(
    { jsonrpc: fc.oneof(fc.constant("2.0"), fc.constant("2.0"), fc.constantFrom("1.0", 2, null)), method, params, id, extra: fc.oneof(fc.constant(undefined), fc.jsonValue({ maxDepth: 1 })) },
    { requiredKeys: [] },
  )
  .map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)));
const responseLike = fc.record({ jsonrpc: fc.constant("2.0"), id, result: fc.jsonValue({ maxDepth: 1 }) }, { requiredKeys: ["jsonrpc"] });
const message = fc.oneof({ weight: 5, arbitrary: requestLike }, { weight: 1, arbitrary: responseLike }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) });
const frame = fc.oneof(
  { weight: 4, arbitrary: message.map((m) => JSON.stringify(m) ?? "null") },
  { weight: 3, arbitrary: fc.array(message, { maxLength: MAX_BATCH + 2 }).map((b) => JSON.stringify(b)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200, unit: "binary" }) },
  { weight: 1, arbitrary: fc.json({ maxDepth: 3 }).map((t) => t.slice(0, Math.max(1, t.length - 1))) },
);

function peerUnderTest() {
  const out: string[] = [];
  const kinds: string[] = [];
  const peer = new JsonRpcPeer({
    send: (t) => out.push(t),
    resolve: (m) => handlers[m],
    maxInflight: 8,
    maxBatch: MAX_BATCH,
    maxMessageBytes: MAX_BYTES,
    idPrefix: "s",
    onBadFrame: (k) => kinds.push(k),
  });
  return { peer, out, kinds };
}

async function settle(peer: JsonRpcPeer): Promise<void> {
  for (let i = 0; i < 200 && peer.inflightCount > 0; i++) await sleep(1);
  await sleep(3);
}

describe("bridge peer fuzz", () => {
  it(
    "never throws, answers exactly what it must with valid responses within the size limit, and still answers right",
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 4 }), async (frames) => {
          const { peer, out } = peerUnderTest();
          let expected = 0;
          for (const f of frames) {
            expect(() => peer.receive(f)).not.toThrow();
            expected += expectedForFrame(f);
          }
          await settle(peer);
          let replies = 0;
          for (const text of out) {
            expect(Buffer.byteLength(text)).toBeLessThanOrEqual(MAX_BYTES);
            const parsed = JSON.parse(text) as unknown;
            for (const r of Array.isArray(parsed) ? parsed : [parsed]) {
              expect(RpcSuccess.safeParse(r).success || RpcFailure.safeParse(r).success, text.slice(0, 200)).toBe(true);
              replies++;
            }
          }
          expect(replies).toBe(expected);
          out.length = 0;
          peer.receive('{"jsonrpc":"2.0","method":"echo","params":{"ok":1},"id":"after"}');
          await settle(peer);
          expect(out.map((t) => JSON.parse(t))).toEqual([{ jsonrpc: "2.0", id: "after", result: { ok: 1 } }]);
        }),
        fuzzParams(120),
      );
    },
    fuzzTimeout(30_000),
  );

  it(
    "settles its own requests from whatever responses arrive, and never throws on them",
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.oneof(responseLike, fc.record({ jsonrpc: fc.constant("2.0"), id: fc.constantFrom("s1", "s2", "s3"), error: fc.record({ code: fc.integer(), message: fc.string({ maxLength: 5 }) }) }), responseLike.map((r) => ({ ...r, id: "s2" }))), { maxLength: 6 }), async (responses) => {
          const { peer } = peerUnderTest();
          const calls = [1, 2, 3].map(() => peer.request("x", {}, { timeoutMs: 30 }).then(() => "ok", (e: Error) => e.constructor.name));
          for (const r of responses) expect(() => peer.receive(JSON.stringify(r))).not.toThrow();
          const outcomes = await Promise.all(calls);
          for (const o of outcomes) expect(["ok", "RpcError", "TubularError"]).toContain(o);
          expect(peer.pendingCount).toBe(0);
        }),
        fuzzParams(40),
      );
    },
    fuzzTimeout(30_000),
  );
});
