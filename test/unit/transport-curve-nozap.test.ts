import { describe, expect, it } from "vitest";
import { makeMessage } from "../../src/protocol/index.ts";
import { CommandInbox, RunnerControl, generateKeyPair } from "../../src/transport/index.ts";

// Its own file, so its own process: no ZAP handler is running here.
describe("transport curve - no ZAP handler", () => {
  it("transport curve - a CURVE server without a ZAP handler refuses every client", async () => {
    const server = generateKeyPair();
    const inbox = new CommandInbox({ curve: { role: "server", keys: server } });
    const address = await inbox.bind("tcp://127.0.0.1:0");
    const client = new RunnerControl({ id: "c", curve: { role: "client", keys: generateKeyPair(), serverPublicKey: server.publicKey } });
    client.connect(address);
    client.send(makeMessage("ping", "c", null));
    const got = await Promise.race([inbox.messages().next().then(() => "message"), new Promise((r) => setTimeout(() => r("none"), 300))]);
    expect(got).toBe("none");
    client.close();
    inbox.close();
  });
});
