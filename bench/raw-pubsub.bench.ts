/**
 * Raw zeromq.js PUB -> SUB throughput between two processes, with payloads
 * the size of one encoded event message (one small event): the ceiling any
 * tubular event path can reach on this machine. Also measures the codec on
 * that message (encode, decode with the structural event check, decode with
 * the full zod schema), the numbers that justify the choices in
 * src/protocol/codec.ts.
 *
 *   npx tsx bench/raw-pubsub.bench.ts [--seconds 3] [--transport ipc|tcp]
 *
 * Prints one JSON line: {"bench":"raw-pubsub","value":<msg/s>,"unit":"msg/s",...}
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import * as zmq from "zeromq";
import { Codec, makeMessage, type Message } from "../src/protocol/index.ts";
import { RunDir, tcpEndpoint } from "../src/transport/address.ts";

export interface RawPubSubOptions {
  seconds?: number;
  transport?: "ipc" | "tcp";
}

export interface RawPubSubResult {
  bench: "raw-pubsub";
  value: number;
  unit: "msg/s";
  payload_bytes: number;
  transport: string;
  seconds: number;
  mb_per_s: number;
  codec_encode_per_s: number;
  codec_decode_per_s: number;
  codec_decode_zod_per_s: number;
}

/** The message whose encoded size the benchmark sends: one event carrying a small number. */
export function sampleEventMessage(): Message {
  return makeMessage("event", "source", {
    events: [{ id: 1, timestamp: Date.now(), node_id: "source", signal: "value", epoch: 1, value: 42 }],
    done: [["source", "1"]],
  });
}

function rate(fn: () => void, ms = 500): number {
  for (let i = 0; i < 2000; i++) fn(); // warm up
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 1000; i++) fn();
    n += 1000;
    now = performance.now();
  }
  return Math.round(n / ((now - start) / 1000));
}

/** Encode and decode rates of the sample event message. */
export function measureCodec(): Pick<RawPubSubResult, "codec_encode_per_s" | "codec_decode_per_s" | "codec_decode_zod_per_s"> {
  const msg = sampleEventMessage();
  const codec = new Codec();
  const strict = new Codec({ strictEvents: true });
  const frames = codec.encode(msg);
  return {
    codec_encode_per_s: rate(() => codec.encode(msg)),
    codec_decode_per_s: rate(() => codec.decode(frames)),
    codec_decode_zod_per_s: rate(() => strict.decode(frames)),
  };
}

async function publisher(address: string, size: number): Promise<void> {
  const pub = new zmq.Publisher({ linger: 0, sendHighWaterMark: 100_000 });
  pub.connect(address);
  const topic = Buffer.from("source");
  const payload = Buffer.alloc(size - topic.length, 7);
  process.on("SIGTERM", () => process.exit(0));
  for (;;) await pub.send([topic, payload]);
}

export async function runRawPubSub(options: RawPubSubOptions = {}): Promise<RawPubSubResult> {
  const seconds = options.seconds ?? 3;
  const transport = options.transport ?? "ipc";
  const codec = new Codec();
  const frames = codec.encodePub(sampleEventMessage());
  const size = frames.reduce((s, f) => s + f.length, 0);

  const dir = transport === "ipc" ? await RunDir.create({ prefix: "tubular-bench-" }) : undefined;
  const sub = new zmq.Subscriber({ linger: 0, receiveHighWaterMark: 100_000 });
  await sub.bind(dir ? dir.ipc("raw") : tcpEndpoint("127.0.0.1", 0));
  sub.subscribe("source");
  const address = sub.lastEndpoint as string;

  const self = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, ["--import", "tsx", self, "--child", address, String(size)], { stdio: ["ignore", "ignore", "inherit"] });
  let value = 0;
  let elapsed = 0;
  try {
    await sub.receive(); // the publisher is up
    const warmupEnd = performance.now() + 300;
    while (performance.now() < warmupEnd) await sub.receive();
    let n = 0;
    const start = performance.now();
    const end = start + seconds * 1000;
    let now = start;
    while (now < end) {
      await sub.receive();
      if ((++n & 1023) === 0) now = performance.now();
    }
    elapsed = (performance.now() - start) / 1000;
    value = Math.round(n / elapsed);
  } finally {
    child.kill("SIGTERM");
    sub.close();
    await dir?.cleanup();
  }
  // After the publisher is gone, so both do not compete for the CPU.
  await new Promise((r) => child.once("exit", r));
  return {
    bench: "raw-pubsub",
    value,
    unit: "msg/s",
    payload_bytes: size,
    transport,
    seconds: Math.round(elapsed * 100) / 100,
    mb_per_s: Math.round(((value * size) / 1e6) * 10) / 10,
    ...measureCodec(),
  };
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const args = process.argv.slice(2);
  if (args[0] === "--child") {
    await publisher(args[1] as string, Number(args[2]));
  } else {
    const opt = (name: string) => {
      const i = args.indexOf(`--${name}`);
      return i >= 0 ? args[i + 1] : undefined;
    };
    const result = await runRawPubSub({
      seconds: opt("seconds") ? Number(opt("seconds")) : undefined,
      transport: opt("transport") === "tcp" ? "tcp" : "ipc",
    });
    // Exit only once the line is written: stdout to a pipe is asynchronous.
    process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
  }
}
