/**
 * The codec under arbitrary and mutated input: decodeSafe never throws,
 * nothing it is fed changes how it decodes the next message, and what it
 * encodes comes back equal.
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Codec } from "../../src/protocol/codec.ts";
import { PROTOCOL_VERSION } from "../../src/protocol/common.ts";
import { makeMessage, type Message } from "../../src/protocol/message.ts";
import { CODEC_RUNS, LONG, SEED } from "./fuzz-config.ts";

const T = 1_700_000_000_000;
const probe = makeMessage("event", "a", { events: [{ id: 1, timestamp: T, node_id: "a", signal: "value", epoch: 3, value: { x: [1, 2] } }], done: [["a", "3"]] }, T);

/** JSON-like values without -0 (msgpack keeps it, equality in tests would not tell). */
const value = fc.jsonValue().map((v) => JSON.parse(JSON.stringify(v)) as unknown);
const nodeId = fc.stringMatching(/^[a-z][a-z0-9_]{0,15}$/);
const event = fc.record({ id: fc.nat(), timestamp: fc.nat(), node_id: nodeId, signal: nodeId, epoch: fc.nat(), value });
const eventMessage = fc.record({ events: fc.array(event, { maxLength: 5 }), done: fc.array(fc.tuple(nodeId, fc.nat().map(String)), { maxLength: 5 }) }).map((v) => makeMessage("event", "a", v, T) as Message);
const processMessage = fc.record({ epoch: fc.nat(), input: fc.option(fc.dictionary(nodeId, value, { maxKeys: 4 }), { nil: null }) }).map((v) => makeMessage("process", "command", v, T) as Message);
const message = fc.oneof(eventMessage, processMessage, fc.constant(makeMessage("heartbeat", "command", null, T) as Message));

/** A valid message's payload with a few bytes changed, cut, or extended. */
const mutated = fc.tuple(message, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.option(fc.nat()), fc.uint8Array({ maxLength: 8 })).map(([m, flips, cut, tail]) => {
  const payload = Buffer.from(new Codec().encode(m)[0]!);
  for (const [at, byte] of flips) payload[at % payload.length] = byte;
  const body = cut === null ? payload : payload.subarray(0, cut % (payload.length + 1));
  return [Buffer.concat([body, Buffer.from(tail)])];
});
const garbage = fc.array(fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)), { minLength: 0, maxLength: 4 });
/** msgpack of a short string. */
const str = (t: string) => [0xa0 | t.length, ...Buffer.from(t)];
/** Hand-made msgpack record definitions (0xd4 0x72 id / 0xd5 0x72 id high, keys, values) inside an envelope. */
const definition = fc
  .tuple(fc.boolean(), fc.integer({ min: 0, max: 0x3f }), fc.array(fc.stringMatching(/^[a-z]{1,6}$/), { minLength: 1, maxLength: 4 }), fc.constantFrom("ping", "event", "status", "heartbeat"))
  .map(([twoByte, id, keys, type]) => {
    const head = twoByte ? [0xd5, 0x72, id, 0x00] : [0xd4, 0x72, 0x40 | id];
    const def = [...head, 0x90 | keys.length, ...keys.flatMap(str), ...keys.map((_, i) => i & 0x3f)];
    return [Buffer.from([0x95, PROTOCOL_VERSION, ...str(type), ...str("x"), 0x00, ...def])];
  });
const recordish = fc.oneof(
  definition,
  fc.array(fc.oneof(fc.constant([0xd4, 0x72]), fc.constant([0xd5, 0x72]), fc.integer({ min: 0x40, max: 0x7f }).map((b) => [b]), fc.uint8Array({ maxLength: 6 }).map((a) => [...a])), { maxLength: 8 }).map((parts) => [Buffer.from([0x95, PROTOCOL_VERSION, ...str("event"), ...str("a"), 0x00, ...parts.flat()])]),
);

describe("fuzz - codec", { timeout: LONG ? 1_800_000 : 60_000 }, () => {
  it("decodeSafe never throws, and no input changes how the next message decodes", () => {
    const codec = new Codec();
    const frames = codec.encode(probe);
    fc.assert(
      fc.property(fc.oneof(garbage, mutated, recordish), (input) => {
        expect(() => codec.decodeSafe(input)).not.toThrow();
        expect(codec.decode(frames)).toEqual(probe);
      }),
      { seed: SEED, numRuns: CODEC_RUNS },
    );
  });

  it("what the codec encodes decodes equal, on a codec that has seen anything before", () => {
    const codec = new Codec();
    fc.assert(
      fc.property(fc.oneof(garbage, mutated, recordish), message, (noise, m) => {
        codec.decodeSafe(noise);
        expect(codec.decode(codec.encode(m))).toEqual(m);
      }),
      { seed: SEED + 1, numRuns: CODEC_RUNS },
    );
  });
});
