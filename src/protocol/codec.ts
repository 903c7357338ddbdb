/**
 * The only encoder and decoder of tubular's wire format, and the only importer
 * of msgpackr.
 *
 * Wire format (PROTOCOL_VERSION 3):
 * - payload frame: msgpack of the tuple `[v, type, node_id, timestamp, value]`.
 *   The version travels first, in every message, so a peer of another version
 *   is told apart ("version" drop) before anything else of the message is
 *   trusted; a tuple instead of a map keeps the envelope a few bytes and
 *   lookups shorter.
 * - binary frames: every Buffer / typed array of at least `binaryThreshold`
 *   bytes anywhere in the value travels as its own ZeroMQ frame after the
 *   payload, unencoded; the payload holds a small msgpack extension
 *   (type 0x46) naming the array kind and the frame index. Smaller typed
 *   arrays are inlined in the same extension, so they too come back with
 *   their type (Buffer stays Buffer, Float32Array stays Float32Array).
 * - PUB/XPUB: `[topic, payload, ...binary]`, topic = the sender's id;
 *   DEALER/ROUTER: `[payload, ...binary]` (a ROUTER sees `[identity, ...]`).
 *
 * Decoding checks, in order: total size, msgpack, envelope shape, version,
 * type, schema, binary frames. Control messages are checked with their zod
 * schema; event messages with `isEventValue`, a hand-written check of the
 * same shape that allocates nothing (measured in bench/raw-pubsub.bench.ts, fields codec_*: the
 * zod parse of an event value costs more than its msgpack decode).
 */
import { Packr, Unpackr, addExtension } from "msgpackr";
import { TubularError } from "../errors.ts";
import { PROTOCOL_VERSION } from "./common.ts";
import { DropCounter, type DropKind } from "./drops.ts";
import { type Message, MessageSchemas, isMessageType } from "./message.ts";
import { isEventValue } from "./runner-to-runner.ts";
import { isProcessValue } from "./command-to-runner.ts";

/**
 * Default bound on one message (payload plus binary frames): 64 MiB. Large
 * enough for a video frame or an audio block per event, small enough that a
 * corrupt or hostile length cannot make a receiver allocate without bound
 * (DESIGN.md: "Message size is bounded"). Sockets also set ZMQ_MAXMSGSIZE to
 * it, so libzmq refuses an oversized frame before it is read into memory.
 */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/**
 * Typed arrays of at least this many bytes travel as their own frames. Below
 * it, a separate frame costs more (a libzmq message and its bookkeeping) than
 * copying the bytes into the payload.
 */
export const BINARY_FRAME_THRESHOLD = 4096;

/**
 * At most this many binary frames per message; further typed arrays of the
 * message are inlined. Bounds the frames a receiver accepts (see
 * `MAX_FRAMES`): libzmq limits each frame's size but not their number.
 */
export const MAX_BINARY_FRAMES = 1024;

/**
 * The most frames a message has on each kind of socket: the payload and its
 * binary frames, after the topic on PUB/SUB, after the routing id on a ROUTER.
 */
export const MAX_FRAMES = {
  dealer: 1 + MAX_BINARY_FRAMES,
  sub: 2 + MAX_BINARY_FRAMES,
  router: 2 + MAX_BINARY_FRAMES,
} as const;

/** A message could not be decoded; `kind` says why (see DropKind). */
export class ProtocolError extends TubularError {
  readonly kind: DropKind;
  constructor(kind: DropKind, message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(kind === "oversized" ? "TUBULAR_ERR_FRAME_TOO_LARGE" : "TUBULAR_ERR_PROTOCOL", message, { kind, ...context }, options);
    this.name = "ProtocolError";
    this.kind = kind;
  }
}

// ---------------------------------------------------------------------------
// Typed arrays and binary frames

type TypedArrayCtor = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): ArrayBufferView; BYTES_PER_ELEMENT: number };

/** Index = kind byte on the wire. Kind 0 is Node's Buffer. Append only. */
const KINDS: TypedArrayCtor[] = [
  Buffer as unknown as TypedArrayCtor,
  Uint8Array,
  Uint8ClampedArray,
  Int8Array,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
] as unknown as TypedArrayCtor[];
const KIND_OF = new Map<unknown, number>(KINDS.map((c, i) => [c, i]));
const TypedArray = Object.getPrototypeOf(Uint8Array) as abstract new (...args: never[]) => ArrayBufferView;
const EXT_TYPE = 0x46; // "F"
const MODE_INLINE = 0;
const MODE_FRAME = 1;

function kindOf(v: ArrayBufferView): number {
  const k = KIND_OF.get(v.constructor);
  if (k !== undefined) return k;
  if (Buffer.isBuffer(v)) return 0;
  for (let i = KINDS.length - 1; i > 0; i--) if (v instanceof (KINDS[i] as unknown as Function)) return i;
  return 1;
}

/** Binary frames of the encode in progress (null outside encode). msgpackr's extension hooks are global, so the state is too; encode is synchronous. */
let encFrames: Buffer[] | null = null;
let encThreshold = BINARY_FRAME_THRESHOLD;
let decFrames: Buffer[] | null = null;
let decUsed = 0;

class FrameRefError extends Error {}

function viewAs(kind: number, bytes: Buffer, copy: boolean): ArrayBufferView {
  if (kind === 0) return copy ? Buffer.from(bytes) : bytes;
  const Ctor = KINDS[kind];
  if (!Ctor) throw new FrameRefError(`unknown typed array kind ${kind}`);
  const bpe = Ctor.BYTES_PER_ELEMENT;
  if (bytes.byteLength % bpe !== 0) throw new FrameRefError(`binary value of ${bytes.byteLength} bytes is not a whole number of ${bpe}-byte elements`);
  if (!copy && bytes.byteOffset % bpe === 0) return new Ctor(bytes.buffer, bytes.byteOffset, bytes.byteLength / bpe);
  // Copy into a fresh, aligned buffer.
  const ab = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(ab).set(bytes);
  return new Ctor(ab, 0, bytes.byteLength / bpe);
}

addExtension({
  Class: TypedArray as unknown as Function,
  type: EXT_TYPE,
  pack(value: ArrayBufferView): Buffer {
    const kind = kindOf(value);
    const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    if (encFrames !== null && value.byteLength >= encThreshold && encFrames.length < MAX_BINARY_FRAMES) {
      const out = Buffer.allocUnsafe(6);
      out[0] = kind;
      out[1] = MODE_FRAME;
      out.writeUInt32BE(encFrames.length, 2);
      encFrames.push(bytes); // zero copy: the frame is a view of the caller's memory
      return out;
    }
    const out = Buffer.allocUnsafe(2 + bytes.byteLength);
    out[0] = kind;
    out[1] = MODE_INLINE;
    bytes.copy(out, 2);
    return out;
  },
  unpack(data: Buffer): ArrayBufferView {
    if (data.length < 2) throw new FrameRefError("truncated binary placeholder");
    const kind = data[0] as number;
    if (data[1] === MODE_INLINE) return viewAs(kind, data.subarray(2), true);
    if (data[1] !== MODE_FRAME || data.length !== 6) throw new FrameRefError("malformed binary placeholder");
    const index = data.readUInt32BE(2);
    const frame = decFrames?.[index];
    if (frame === undefined) throw new FrameRefError(`binary frame ${index} is missing`);
    decUsed++;
    return viewAs(kind, frame, false);
  },
} as Parameters<typeof addExtension>[0]);

// ---------------------------------------------------------------------------
// The codec

/**
 * Record structures known to both ends: the event value and TubeEvent, the
 * process epoch. msgpackr writes objects of these shapes as a one-byte
 * record reference instead of their keys, which halves an event message and
 * makes decoding about 4x faster (measured while choosing, see docs). The list is fixed
 * per protocol version and never grows.
 *
 * Structures are never taken from the wire. msgpackr's format lets a message
 * define a record inline (extension 0x72), and a definition overwrites the
 * receiver's structure of the same id for later messages: one 20-byte
 * message could redefine the event structure and make every later event
 * undecodable. So the encoder writes records only for exactly these shapes
 * (every other object is a plain map, so no message of ours carries a
 * definition), and the decoder reads through a frozen structure list: a
 * definition fails to write into it and the message is dropped.
 */
const FIXED_STRUCTURES: readonly string[][] = [
  ["id", "timestamp", "node_id", "signal", "epoch", "value"],
  ["events", "done"],
  ["epoch", "input"],
  ["status"],
  // Protocol version 3: an event value with whole runners' finished epochs (runner-to-runner.ts).
  ["events", "done", "finished"],
];

/** Fixed structures by their first key, to test a shape without allocating. */
const FIXED_BY_FIRST_KEY = new Map<string, readonly string[][]>();
for (const s of FIXED_STRUCTURES) FIXED_BY_FIRST_KEY.set(s[0]!, [...(FIXED_BY_FIRST_KEY.get(s[0]!) ?? []), s]);

/** Whether an object's own keys are, in order, one of the fixed structures. */
function isFixedShape(obj: object): boolean {
  let first: string | undefined;
  for (const key in obj) {
    first = key;
    break;
  }
  const candidates = first === undefined ? undefined : FIXED_BY_FIRST_KEY.get(first);
  if (candidates === undefined) return false;
  for (const c of candidates) if (keysAre(obj, c)) return true;
  return false;
}

function keysAre(obj: object, keys: readonly string[]): boolean {
  let i = 0;
  for (const key in obj) {
    if (keys[i] !== key || !Object.prototype.hasOwnProperty.call(obj, key)) return false;
    i++;
  }
  return i === keys.length;
}

function makeEncoder(): Packr {
  return new Packr({
    structures: FIXED_STRUCTURES.map((s) => s.slice()),
    maxSharedStructures: FIXED_STRUCTURES.length,
    shouldShareStructure: () => false,
    // Records only for the fixed shapes: nothing we send defines a structure.
    useRecords: isFixedShape as unknown as boolean,
    // Map and Set etc. keep msgpackr's plain encodings; dates stay dates.
    moreTypes: false,
  });
}

/** Marks a msgpackr failure caused by a record definition on the wire. */
const FROZEN_WRITE = /read.only|not extensible|Cannot (assign|add property)/;

function makeDecoder(): Unpackr {
  const unpackr = new Unpackr({ structures: FIXED_STRUCTURES.map((s) => s.slice()), maxSharedStructures: FIXED_STRUCTURES.length, mapsAsObjects: true, moreTypes: false, structuredClone: false });
  // The constructor marked all of it shared (so msgpackr never truncates it); frozen, nothing can be defined into it.
  Object.freeze((unpackr as unknown as { structures: string[][] }).structures);
  return unpackr;
}

export interface CodecOptions {
  /** Bound on one message, payload plus binary frames. Default MAX_MESSAGE_BYTES. */
  maxMessageBytes?: number;
  /** Typed arrays of at least this many bytes travel as their own frames. Default BINARY_FRAME_THRESHOLD. */
  binaryThreshold?: number;
  /** Where decodeSafe counts drops; a new one (without logger) when omitted. */
  drops?: DropCounter;
  /** Validate event messages with the full zod schema instead of the structural check (slower; for debugging). */
  strictEvents?: boolean;
}

const EMPTY_FRAMES: Buffer[] = [];
const topicCache = new Map<string, Buffer>();

/** The topic frame of an id, cached (ids are few and long-lived). */
export function topicFrame(id: string): Buffer {
  let t = topicCache.get(id);
  if (t === undefined) {
    t = Buffer.from(id, "utf8");
    if (topicCache.size < 10_000) topicCache.set(id, t);
  }
  return t;
}

export class Codec {
  readonly maxMessageBytes: number;
  readonly binaryThreshold: number;
  readonly drops: DropCounter;
  private readonly strictEvents: boolean;
  private readonly packr = makeEncoder();
  private readonly unpackr = makeDecoder();

  constructor(options: CodecOptions = {}) {
    this.maxMessageBytes = options.maxMessageBytes ?? MAX_MESSAGE_BYTES;
    this.binaryThreshold = options.binaryThreshold ?? BINARY_FRAME_THRESHOLD;
    this.drops = options.drops ?? new DropCounter();
    this.strictEvents = options.strictEvents ?? false;
  }

  /**
   * Frames of a message for a DEALER or ROUTER socket: `[payload, ...binary]`.
   * Throws a ProtocolError (TUBULAR_ERR_FRAME_TOO_LARGE) when the message is
   * larger than `maxMessageBytes`: the sender fails loudly instead of the
   * receiver dropping silently. The message is not validated: senders build
   * messages from typed values.
   */
  encode(msg: Message): Buffer[] {
    const frames: Buffer[] = [];
    encFrames = frames;
    encThreshold = this.binaryThreshold;
    let payload: Buffer;
    try {
      payload = this.packr.pack([PROTOCOL_VERSION, msg.type, msg.node_id, msg.timestamp, msg.value]);
    } finally {
      encFrames = null;
    }
    if (frames.length === 0) {
      if (payload.length > this.maxMessageBytes) this.tooLarge(msg, payload.length);
      return [payload];
    }
    let size = payload.length;
    for (const f of frames) size += f.length;
    if (size > this.maxMessageBytes) this.tooLarge(msg, size);
    frames.unshift(payload);
    return frames;
  }

  /** Frames for a PUB/XPUB socket: `[topic, payload, ...binary]`; the topic defaults to the sender's id. */
  encodePub(msg: Message, topic: string = msg.node_id): Buffer[] {
    const frames = this.encode(msg);
    frames.unshift(topicFrame(topic));
    return frames;
  }

  /** Decodes `[payload, ...binary]`; throws a ProtocolError saying why it could not. */
  decode(frames: readonly Buffer[]): Message {
    const n = frames.length;
    if (n === 0) throw new ProtocolError("garbage", "no frames");
    if (n - 1 > MAX_BINARY_FRAMES) throw new ProtocolError("frames", `${n - 1} binary frames, at most ${MAX_BINARY_FRAMES}`);
    const payload = frames[0] as Buffer;
    let size = payload.length;
    for (let i = 1; i < n; i++) size += (frames[i] as Buffer).length;
    if (size > this.maxMessageBytes) throw new ProtocolError("oversized", `message of ${size} bytes exceeds the limit of ${this.maxMessageBytes}`, { size });

    let tuple: unknown;
    decFrames = n > 1 ? (frames.slice(1) as Buffer[]) : EMPTY_FRAMES;
    decUsed = 0;
    try {
      tuple = this.unpackr.unpack(payload);
    } catch (err) {
      if (err instanceof FrameRefError) throw new ProtocolError("frames", err.message);
      if (err instanceof TypeError && FROZEN_WRITE.test(err.message)) throw new ProtocolError("garbage", "defines a msgpack record: structures are fixed per protocol version, never taken from the wire");
      throw new ProtocolError("garbage", "not msgpack", {}, { cause: err });
    } finally {
      decFrames = null;
    }
    if (decUsed !== n - 1) throw new ProtocolError("frames", `${n - 1} binary frames but ${decUsed} placeholders`);
    if (!Array.isArray(tuple) || tuple.length !== 5) throw new ProtocolError("garbage", "not a message envelope");
    if (tuple[0] !== PROTOCOL_VERSION) throw new ProtocolError("version", `protocol version ${String(tuple[0])}, expected ${PROTOCOL_VERSION}`, { version: tuple[0] });
    const type = tuple[1];
    if (!isMessageType(type)) throw new ProtocolError("unknown_type", `unknown message type ${JSON.stringify(type)}`);
    const msg = { type, node_id: tuple[2], timestamp: tuple[3], value: tuple[4] };
    if ((type === "event" || type === "process") && !this.strictEvents) {
      // The two messages of every epoch get a structural check equal to their schema (see isEventValue).
      const id = msg.node_id;
      const valid = type === "event" ? isEventValue(msg.value) : isProcessValue(msg.value);
      if (typeof id !== "string" || id.length === 0 || id.length > 255 || id.charCodeAt(0) === 0 || typeof msg.timestamp !== "number" || !valid) {
        throw new ProtocolError("schema", `${type} message does not match its schema`, { type });
      }
      return msg as Message;
    }
    const parsed = MessageSchemas[type].safeParse(msg);
    if (!parsed.success) {
      throw new ProtocolError("schema", `${type} message does not match its schema: ${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message}`, { type });
    }
    return parsed.data as Message;
  }

  /** Decodes `[topic, payload, ...binary]` from a SUB socket (the topic is not checked: ZeroMQ already filtered on it). */
  decodePub(frames: readonly Buffer[]): Message {
    if (frames.length < 2) throw new ProtocolError("garbage", "no payload after the topic");
    return this.decode(frames.slice(1));
  }

  /** `decode` that never throws: undefined, counted in `drops`, when the frames are not a valid message. */
  decodeSafe(frames: readonly Buffer[]): Message | undefined {
    try {
      return this.decode(frames);
    } catch (err) {
      this.countDrop(err);
      return undefined;
    }
  }

  /** `decodePub` that never throws. */
  decodePubSafe(frames: readonly Buffer[]): Message | undefined {
    try {
      return this.decodePub(frames);
    } catch (err) {
      this.countDrop(err);
      return undefined;
    }
  }

  /** Splits `[identity, payload, ...binary]` from a ROUTER; undefined (counted) when not a valid message. */
  decodeRouterSafe(frames: readonly Buffer[]): { identity: Buffer; message: Message } | undefined {
    if (frames.length < 2) {
      this.drops.record("garbage", "no payload after the routing id");
      return undefined;
    }
    const message = this.decodeSafe(frames.slice(1));
    return message === undefined ? undefined : { identity: frames[0] as Buffer, message };
  }

  private countDrop(err: unknown): void {
    if (err instanceof ProtocolError) this.drops.record(err.kind, err.message);
    else this.drops.record("garbage", err instanceof Error ? err.message : String(err));
  }

  private tooLarge(msg: Message, size: number): never {
    throw new ProtocolError("oversized", `${msg.type} message of ${size} bytes exceeds the limit of ${this.maxMessageBytes}`, { nodeId: msg.node_id, size });
  }
}

/** `[identity, ...frames]` for sending from a ROUTER to one peer. */
export function routerFrames(identity: Buffer | string, frames: Buffer[]): Array<Buffer | string> {
  return [identity, ...frames];
}
