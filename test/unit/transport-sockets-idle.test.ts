/**
 * SERVER and CLIENT sockets read through readLoop: messages go both ways
 * promptly, and an idle pair does not spin the event loop (zeromq.js waits on
 * these sockets through a descriptor that stays readable: a read left pending
 * burned about half a core per socket; see src/transport/idle-poll.ts).
 */
import { afterEach, describe, expect, it } from "vitest";
import pino from "pino";
import { DropCounter } from "../../src/protocol/drops.ts";
import { openSocket, readLoop, serverSender, clientSender } from "../../src/transport/sockets.ts";
import { IdlePoll } from "../../src/transport/idle-poll.ts";
import { uniqueAddress } from "../../src/transport/index.ts";
import { until } from "../helpers/until.ts";

const log = pino({ level: "silent" });
const closers: Array<() => void> = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

async function pair() {
  const server = openSocket("server", 1024, { linger: 0 });
  const client = openSocket("client", 1024, { linger: 0 });
  closers.push(() => server.close(), () => client.close());
  const address = uniqueAddress("inproc");
  await server.bind(address);
  client.connect(address);
  const atServer: Array<[string, number]> = [];
  const atClient: string[] = [];
  const drops = new DropCounter(log);
  const loops = [
    readLoop(server, { maxFrames: 2, drops, log, name: "server", onMessage: ([payload, meta]) => void atServer.push([payload!.toString(), (meta as unknown as { routingId: number }).routingId]) }),
    readLoop(client, { maxFrames: 1, drops, log, name: "client", onMessage: ([payload]) => void atClient.push(payload!.toString()) }),
  ];
  return { server, client, atServer, atClient, loops };
}

/** CPU time (user + system) this process spends in `ms` of wall time, in ms. */
async function cpuDuring(ms: number): Promise<number> {
  const c0 = process.cpuUsage();
  await new Promise((r) => setTimeout(r, ms));
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

describe("transport sockets - SERVER and CLIENT read loops", { timeout: 30_000 }, () => {
  it("transport sockets - messages go both ways, and an idle pair with both loops reading costs almost no CPU", async () => {
    const p = await pair();
    await clientSender(p.client).send(["hello"]);
    await until(() => p.atServer.length === 1, 5000, "the server to read the client's message");
    const [payload, routingId] = p.atServer[0]!;
    expect(payload).toBe("hello");
    await serverSender(p.server).send([String(routingId), "welcome"]);
    await until(() => p.atClient.length === 1, 5000, "the client to read the reply");
    expect(p.atClient).toEqual(["welcome"]);
    // Both loops are reading now. With a pending receive on each, this took 0.84 s of CPU per 2 s on an idle machine;
    // a loop that polls at most every 32 ms takes a few ms. Under load a spinning loop gets less CPU, hence 2 s and 150 ms.
    const cpu = await cpuDuring(2000);
    expect(cpu).toBeLessThan(150);
    // Still reading after the idle time: the backoff is bounded.
    const t0 = performance.now();
    await clientSender(p.client).send(["again"]);
    await until(() => p.atServer.length === 2, 5000, "the server to read the second message");
    expect(p.atServer[1]![0]).toBe("again");
    expect(performance.now() - t0).toBeLessThan(1000);
    p.server.close();
    p.client.close();
    await Promise.all(p.loops);
  });
});

describe("transport idle poll", () => {
  it("transport idle poll - waits grow 1, 2, 4 ... up to the cap, and a wake ends the wait at once and starts over", async () => {
    const poll = new IdlePoll(8);
    const waits: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      await poll.next();
      waits.push(performance.now() - t);
    }
    // Timers never fire early; the cap holds for the 4th and 5th waits (8 ms each), the total is at least 1+2+4+8+8.
    expect(waits.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(22);
    const t = performance.now();
    const waiting = poll.next();
    poll.wake();
    await waiting;
    expect(performance.now() - t).toBeLessThan(8);
    // After a wake the next wait is 1 ms again (doubling from zero).
    const t2 = performance.now();
    await poll.next();
    expect(performance.now() - t2).toBeLessThan(200);
  });
});
