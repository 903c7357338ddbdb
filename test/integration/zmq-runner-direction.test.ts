/**
 * A node runner checks the direction of what it hears: the test plays the
 * command node (the project's own CommandNode, on real ipc sockets) for one
 * real runner process, sends it messages that do not travel from a command
 * node, and checks that the runner counts them, reports the count, and goes
 * on running epochs.
 */
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { makeMessage, type MessageOf } from "../../src/protocol/message.ts";
import type { RunnerProcessConfig } from "../../src/protocol/runner-config.ts";
import { RunDir } from "../../src/transport/address.ts";
import { CommandNode, COMMAND_ID, type InboxMessage } from "../../src/runner/zmq/command-node.ts";
import { runnerEntry } from "../../src/runner/zmq/runner-entry.ts";
import { RunnerSupervisor } from "../../src/runner/zmq/runner-supervisor.ts";
import { projectRoot } from "../helpers/acceptance.ts";
import { devNull } from "../helpers/zmq-runners.ts";
import { until } from "../helpers/until.ts";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** One runner process of node `a` (count), and the test as its command node. */
async function commandWithOneRunner() {
  const runDir = await RunDir.create({ prefix: "tubular-" });
  cleanups.push(() => runDir.cleanup());
  const inbox: InboxMessage[] = [];
  const events: MessageOf<"event">[] = [];
  let subscribed = false;
  const command: CommandNode = new CommandNode(
    {
      control: (from, msg) => {
        // The runner's heartbeat thread must hear the command, as from a real driver.
        if (msg.type === "heartbeat") return command.sendTo(from, makeMessage("heartbeat", COMMAND_ID, null));
        inbox.push(msg);
        // "all": node `a` has no reader in another process, so its events go out only to whoever asks for every event.
        if (msg.type === "identify") command.listenTo("r", msg.value.outbox, "all");
      },
      event: (msg) => void events.push(msg),
      subscribed: (id) => void (subscribed ||= id === "r"),
      corrupt: () => undefined,
    },
    pino({ level: "silent" }),
  );
  cleanups.push(() => command.close());
  const endpoints = await command.bind(runDir.ipc("command-inbox"), runDir.ipc("command-outbox"));
  const config: RunnerProcessConfig = {
    runId: path.basename(runDir.path),
    runToken: "direction-test-token-0123456789",
    spec: { noob_id: "direction", nodes: { a: { type: "count" } } },
    file: "direction.yaml",
    baseDir: projectRoot,
    input: {},
    runners: { r: { id: "r", nodes: ["a"], upstream: [] } },
    commandInbox: endpoints.inbox,
    commandOutbox: endpoints.outbox,
    outbox: { transport: "ipc", dir: runDir.path },
    logLevel: "warn",
    heartbeatMs: 100,
    commandTimeoutMs: 20_000,
    maxMessageBytes: command.codec.maxMessageBytes,
  };
  const configFile = path.join(runDir.path, "runners.json");
  await writeFile(configFile, JSON.stringify(config), { mode: 0o600 });
  const processes = new RunnerSupervisor(await runnerEntry(), () => undefined, devNull);
  cleanups.push(async () => {
    processes.quiesce();
    command.broadcast(makeMessage("deinit", COMMAND_ID, { stay: false }));
    await processes.stopAll(5000);
  });
  processes.spawn("r", configFile, { restart: "never" });

  const identity = await until(() => inbox.find((m): m is MessageOf<"identify"> => m.type === "identify"), 20_000, "the runner's identify");
  await until(() => subscribed && command.probes.has("r"), 20_000, "both directions between command and runner");
  const { token: _token, ...announced } = identity.value;
  command.broadcast(makeMessage("announce", COMMAND_ID, { inbox: endpoints.inbox, nodes: { r: announced } }));
  command.broadcast(makeMessage("init", COMMAND_ID, { first_epoch: 0 }));
  await until(() => inbox.some((m) => m.type === "status" && m.value.status === "ready"), 20_000, "the runner ready");

  /** Runs epoch `epoch` and resolves with the value node `a` emitted in it. */
  const epoch = async (n: number): Promise<unknown> => {
    command.broadcast(makeMessage("process", COMMAND_ID, { epoch: n, input: {} }));
    const ev = await until(() => events.flatMap((m) => m.value.events).find((e) => e.epoch === n), 10_000, `the event of epoch ${n}`);
    return ev.value;
  };
  /** The runner's last reported drops of kind `schema` (its node_metrics message). */
  const reportedDrops = (): number => {
    const reports = inbox.filter((m): m is MessageOf<"node_metrics"> => m.type === "node_metrics");
    return reports.at(-1)?.value.drops?.schema ?? 0;
  };
  return { command, epoch, reportedDrops };
}

describe("zmq runner - a runner refuses messages that do not travel to it", { timeout: 90_000 }, () => {
  it("runner-to-command and runner-to-runner messages on the command channel are dropped, counted and reported; epochs go on", async () => {
    const { command, epoch, reportedDrops } = await commandWithOneRunner();
    expect(await epoch(0)).toBe(0);
    expect(reportedDrops()).toBe(0);

    // What a confused or hostile peer on the command outbox could send; the types refuse it, so the test forces it onto the wire.
    // @ts-expect-error a status travels from a runner to the command node, not from the command node
    command.broadcast(makeMessage("status", "r", { status: "closed" }));
    // @ts-expect-error an event travels between runners, never on the command channel
    command.broadcast(makeMessage("event", "r", { events: [], done: [["a", "1"]] }));
    // @ts-expect-error a status_report goes to operators only
    command.broadcast(makeMessage("status_report", COMMAND_ID, { state: "ready", hosts: {}, nodes: {}, epochsCompleted: 0 }));

    await until(() => reportedDrops() >= 3, 10_000, "the runner to report three dropped messages");
    expect(reportedDrops()).toBe(3);
    // The runner goes on: its next epochs are the right ones, and it never took the forged completion of epoch 1 for its own.
    expect(await epoch(1)).toBe(1);
    expect(await epoch(2)).toBe(2);
  });
});
