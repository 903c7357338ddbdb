import { describe, expect, it } from "vitest";
import * as zmq from "zeromq";
import { curveClientOptions, curveServerOptions, generateKeyPair } from "../../src/transport/index.ts";

// Its own file, so its own process: no ZAP handler is running here.
describe("transport curve - no ZAP handler", () => {
  it("transport curve - a CURVE server without a ZAP handler refuses every client", async () => {
    const server = generateKeyPair();
    const router = new zmq.Router({ linger: 0 });
    Object.assign(router, curveServerOptions(server));
    await router.bind("tcp://127.0.0.1:0");
    const client = new zmq.Dealer({ routingId: "c", linger: 0, ...curveClientOptions(generateKeyPair(), server.publicKey) });
    client.connect(router.lastEndpoint!);
    const sent = client.send(Buffer.from("ping")).catch(() => {});
    const got = await Promise.race([router.receive().then(() => "message"), new Promise((r) => setTimeout(() => r("none"), 300))]);
    expect(got).toBe("none");
    client.close();
    router.close();
    await sent;
  });
});
