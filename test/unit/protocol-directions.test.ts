import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Client } from "zeromq/lib/draft.js";
import { pino } from "pino";
import { CommandNode, type InboxMessage } from "../../src/runner/zmq/command-node.ts";
import { Codec } from "../../src/protocol/codec.ts";
import { MESSAGES, MessageSchemas, MessageType, makeMessage, travels, type MessageType as Type } from "../../src/protocol/message.ts";
import { until } from "../helpers/until.ts";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/**
 * Never called: `tsc --noEmit` (part of `npm test`) checks these lines. Each
 * `@ts-expect-error` fails the type check if the line it marks compiles.
 */
export function sendsByDirection(command: CommandNode): void {
  command.broadcast(makeMessage("process", "command", { epoch: 0, input: null }));
  command.broadcast(makeMessage("heartbeat", "command", null));
  command.sendTo("host-1", makeMessage("kill", "command", { run_id: "r", runner_id: null }));
  // @ts-expect-error a runner's identify is runner-to-command: it never goes out on the command outbox
  command.broadcast(makeMessage("identify", "a", { node_id: "a", outbox: "ipc:///x", status: "ready", signals: null, slots: null, subscribed_to: [], subscribers: [] }));
  // @ts-expect-error events travel between runners, not from the command inbox
  command.sendTo("host-1", makeMessage("event", "a", { events: [], done: [] }));
  // @ts-expect-error a host's hello goes to the command node, not from it
  command.sendTo("host-1", makeMessage("host_hello", "h", { name: "h", labels: [], resources: { cpus: 1, memory_total: 1, memory_free: 1, load: [], gpus: [] }, pid: 1, runners: [] }));
}

describe("protocol directions", () => {
  it("protocol directions - the table names every type once, and the constants and schemas come from it", () => {
    const types = Object.keys(MESSAGES) as Type[];
    expect(Object.keys(MessageType).sort()).toEqual([...types].sort());
    for (const t of types) {
      expect(MessageType[t]).toBe(t);
      expect(MessageSchemas[t]).toBe(MESSAGES[t].schema);
      expect(MESSAGES[t].directions.length).toBeGreaterThan(0);
    }
    expect(travels("heartbeat", "runnerToCommand")).toBe(true);
    expect(travels("heartbeat", "commandToRunner")).toBe(true);
    expect(travels("process", "runnerToCommand")).toBe(false);
    expect(travels("event", "commandToRunner")).toBe(false);
  });

  it("protocol directions - a message that does not travel to the command node is dropped at its inbox, counted, and not handled", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "tubular-dir-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const handled: InboxMessage[] = [];
    const command = new CommandNode({ control: (_from, msg) => handled.push(msg), event: () => {}, subscribed: () => {}, corrupt: () => {} }, pino({ level: "silent" }));
    cleanups.push(() => command.close());
    await command.bind(`ipc://${dir}/in.sock`, `ipc://${dir}/out.sock`);
    const client = new Client({ linger: 0 });
    cleanups.push(() => client.close());
    client.connect(`ipc://${dir}/in.sock`);
    const codec = new Codec();
    // Sent with the codec of any peer: a command-to-runner "process" and a runner-to-runner "event" are not for the inbox.
    await client.send(codec.encode(makeMessage("process", "x", { epoch: 1, input: null }))[0]!);
    await client.send(codec.encode(makeMessage("event", "x", { events: [], done: [] }))[0]!);
    await client.send(codec.encode(makeMessage("heartbeat", "x", { status: "ready" }))[0]!);
    await until(() => handled.length > 0, 5000, "the heartbeat handled");
    expect(handled.map((m) => m.type)).toEqual(["heartbeat"]);
    expect(command.codec.drops.stats().schema).toBe(2);
  });
});
