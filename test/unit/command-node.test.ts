import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import * as zmq from "zeromq";
import { pino } from "pino";
import { CommandNode } from "../../src/runner/zmq/command-node.ts";
import { eventTopic } from "../../src/runner/zmq/topics.ts";
import { ProtocolError } from "../../src/protocol/codec.ts";
import { until } from "../helpers/until.ts";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("command node", () => {
  it("a runner outbox that sends what does not decode is reported as corrupt, not silently dropped", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "tubular-cmd-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const corrupt: Array<[string, ProtocolError]> = [];
    const command = new CommandNode({ control: () => {}, event: () => {}, subscribed: () => {}, corrupt: (id, err) => corrupt.push([id, err]) }, pino({ level: "silent" }));
    cleanups.push(() => command.close());
    await command.bind(`ipc://${dir}/in.sock`, `ipc://${dir}/out.sock`);
    // Stands in for a runner's outbox: an XPUB that answers nothing but publishes garbage.
    const outbox = new zmq.XPublisher({ linger: 0 });
    cleanups.push(() => outbox.close());
    await outbox.bind(`ipc://${dir}/r1.sock`);
    command.listenTo("r1", `ipc://${dir}/r1.sock`, "values");
    // Once the subscription arrived, publish one undecodable message on the runner's event topic.
    for await (const [sub] of outbox) if (sub && sub[0] === 1 && sub.subarray(1).toString() === eventTopic("r1")) break;
    await outbox.send([eventTopic("r1"), Buffer.from("not msgpack \xc1")]);
    await until(() => corrupt.length > 0, 5000, "the corrupt report");
    expect(corrupt[0]![0]).toBe("r1");
    expect(corrupt[0]![1]).toBeInstanceOf(ProtocolError);
    expect(command.codec.drops.total).toBe(1);
  });
});
