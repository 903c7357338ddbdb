/**
 * Hostile messages on the sockets of a live run, generated with fixed
 * seeds: garbage, mutated valid messages and well-formed forged control
 * messages to the command inbox; arbitrary frames to a runner's outbox.
 * Afterwards: no process died, each stayed under RSS_BOUND_MIB, and the run
 * still gives the right values.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import * as zmq from "zeromq";
import { Client } from "zeromq/lib/draft.js";
import { Codec } from "../../src/protocol/codec.ts";
import { makeMessage, type Message } from "../../src/protocol/message.ts";
import { useZmqRunners } from "../helpers/zmq-runners.ts";
import { isAlive } from "../helpers/processes.ts";
import { LONG, RSS_BOUND_MIB, SEED, SOCKET_MESSAGES } from "./fuzz-config.ts";

const started = useZmqRunners();
const chain = {
  noob_id: "fuzzed",
  nodes: {
    a: { type: "count" },
    scale: { type: "multiply", depends: [{ left: "a.index" }], params: { right: 2 } },
    return: { type: "return", depends: "scale.value" },
  },
};

function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
}

const ids = fc.constantFrom("a", "scale", "return", "command", "driver", "host:driver", "x", "");
const anyValue = fc.oneof(fc.jsonValue(), fc.constant(null), fc.uint8Array({ maxLength: 32 }).map((b) => Buffer.from(b)));
const resources = { cpus: 1, memory_total: 1, memory_free: 1, load: [0, 0, 0], gpus: [] };
/** Well-formed control messages of every kind a runner or host sends, claiming any id. */
const forged: fc.Arbitrary<Message> = fc.oneof(
  fc.tuple(ids, fc.constantFrom("ready", "stopped", "closed", "running", "waiting")).map(([id, status]) => makeMessage("status", id, { status }) as Message),
  fc.tuple(ids, fc.option(fc.nat({ max: 50 }), { nil: undefined })).map(([id, epoch]) => makeMessage("error", id, { err_type: "Forged", message: "Forged", traceback: "", node_id: id || "x", ...(epoch === undefined ? {} : { epoch }) }) as Message),
  ids.map((id) => makeMessage("heartbeat", id, { status: "ready" }) as Message),
  ids.map((id) => makeMessage("identify", id, { node_id: id || "x", outbox: "ipc:///tmp/nowhere.sock", status: "ready", signals: null, slots: null, subscribed_to: [], subscribers: [], token: "0123456789abcdef0123" }) as Message),
  ids.map((id) => makeMessage("host_hello", id, { name: id || "driver", labels: [], resources, pid: 1, runners: [] }) as Message),
  fc.tuple(ids, fc.string()).map(([id, run]) => makeMessage("runner_exit", "host:x", { run_id: run, runner_id: id || "a", pid: 1, code: 1, signal: null, restarting: false, restarts: 0 }) as Message),
  fc.tuple(fc.constantFrom("event", "process", "announce", "init", "deinit", "status_request", "spawn", "kill"), ids, anyValue).map(([type, id, value]) => ({ type, node_id: id, timestamp: 0, value }) as unknown as Message),
);
const codec = new Codec();
const inboxMessage = fc.oneof(
  forged.map((m) => codec.encode(m)[0]!),
  fc.uint8Array({ maxLength: 128 }).map((b) => Buffer.from(b)),
  fc.tuple(forged, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([m, at, byte]) => {
    const b = Buffer.from(codec.encode(m)[0]!);
    b[at % b.length] = byte;
    return b;
  }),
);
/** What a peer may send upstream to an XPUB: subscriptions, cancels, probes, junk, several frames. */
const outboxMessage = fc.oneof(
  fc.tuple(fc.constantFrom(0, 1), fc.string({ maxLength: 40 })).map(([op, t]) => [Buffer.concat([Buffer.from([op]), Buffer.from(t)])]),
  fc.array(fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)), { minLength: 1, maxLength: 5 }),
);

describe("fuzz - sockets of a live run", { timeout: LONG ? 900_000 : 120_000 }, () => {
  it(`${SOCKET_MESSAGES} hostile messages: no process dies, each stays under ${RSS_BOUND_MIB} MiB, values stay right`, async () => {
    // Generated first: the fuzzer shares the driver's thread, and generating 22,000 values
    // takes seconds here, which would silence the driver's heartbeats mid-run.
    const toInbox = fc.sample(inboxMessage, { seed: SEED, numRuns: SOCKET_MESSAGES });
    const toOutbox = fc.sample(outboxMessage, { seed: SEED + 1, numRuns: Math.ceil(SOCKET_MESSAGES / 4) });
    const runner = await started(chain);
    expect(await runner.process()).toBe(0);
    const pids = [process.pid, ...(Object.values(runner.pids()) as number[])];
    const inbox = new Client({ linger: 0, sendHighWaterMark: 0 });
    inbox.connect(`ipc://${path.join(runner.runDirectory!, "command-inbox.sock")}`);
    const outbox = new zmq.XSubscriber({ linger: 0, sendHighWaterMark: 0 });
    outbox.connect(`ipc://${path.join(runner.runDirectory!, "runner-scale.sock")}`);
    // Read what the outbox publishes to us (fuzzed subscriptions may match), as a well-behaved peer would.
    const drained = (async () => {
      for await (const _ of outbox) void _;
    })().catch(() => undefined);
    let peak = 0;
    let epoch = 1;
    for (let i = 0; i < toInbox.length; i++) {
      await inbox.send(toInbox[i]!);
      if (i % 4 === 0) await outbox.send(toOutbox[i / 4]!);
      if (i % 50 === 49) {
        // Paced: every 50 messages the run must still answer, with the right value.
        expect(await runner.process()).toBe(2 * epoch++);
        for (const pid of pids) peak = Math.max(peak, rssMiB(pid));
      }
    }
    for (let i = 0; i < 5; i++) expect(await runner.process()).toBe(2 * epoch++);
    inbox.close();
    outbox.close();
    await drained;
    expect(pids.every(isAlive)).toBe(true);
    expect(runner.state).toBe("ready");
    expect(peak).toBeLessThan(RSS_BOUND_MIB);
    expect(runner.stats().drops.schema + runner.stats().drops.garbage).toBeGreaterThan(0);
  });
});
