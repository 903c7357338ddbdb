/**
 * Hostile input on the sockets of a live run: each case is a finding of the
 * hostile-input review reproduced exactly, then the run is checked to still
 * give the right values (or to fail loudly where it must).
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import * as zmq from "zeromq";
import { useZmqRunners } from "../helpers/zmq-runners.ts";
import { until } from "../helpers/until.ts";
import type { ZmqRunner } from "../../src/runner/zmq/zmq-runner.ts";

const chain = {
  noob_id: "hostile",
  nodes: {
    a: { type: "count" },
    scale: { type: "multiply", depends: [{ left: "a.index" }], params: { right: 2 } },
    return: { type: "return", depends: "scale.value" },
  },
};

const started = useZmqRunners();

/** The command inbox of an ipc run (what any process of the same user can reach). */
function inboxOf(runner: ZmqRunner): string {
  return `ipc://${path.join(runner.runDirectory!, "command-inbox.sock")}`;
}

/** A DEALER of our own on the run's command inbox, closed after `body`. */
async function withDealer(endpoint: string, options: zmq.SocketOptions<zmq.Dealer>, body: (d: zmq.Dealer) => Promise<void>): Promise<void> {
  const d = new zmq.Dealer({ linger: 0, ...options });
  d.connect(endpoint);
  try {
    await body(d);
  } finally {
    d.close();
  }
}

async function epochs(runner: ZmqRunner, n: number): Promise<unknown[]> {
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) out.push(await runner.process());
  return out;
}

describe("zmq runner - hostile input on a live run", () => {
  it("the 20-byte record definition sent to the command inbox is dropped; the run goes on with the right values", async () => {
    const runner = await started(chain);
    expect(await epochs(runner, 2)).toEqual([0, 2]);
    await withDealer(inboxOf(runner), {}, async (d) => {
      await d.send(Buffer.from("9501a470696e67a17800d4724092a161a1620102", "hex"));
      await until(() => runner.stats().drops.garbage >= 1, 5000, "the drop to be counted");
    });
    expect(await epochs(runner, 3)).toEqual([4, 6, 8]);
  });
});
