import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { MAX_IPC_PATH_BYTES, RunDir, advertisedEndpoint, endpointHost, ipcEndpoint, socketFileName, tcpEndpoint, uniqueAddress } from "../../src/transport/index.ts";

describe("transport address", () => {
  it("transport address - run directory is created and removed on cleanup", async () => {
    const dir = await RunDir.create();
    expect(existsSync(dir.path)).toBe(true);
    expect(dir.ipc("runner-a")).toBe(`ipc://${dir.path}/runner-a.sock`);
    await dir.cleanup();
    expect(existsSync(dir.path)).toBe(false);
  });

  it("transport address - long or odd names are shortened to fit a unix socket path", () => {
    const dir = RunDir.createSync();
    const long = "x".repeat(300);
    const a = dir.ipc(long);
    expect(Buffer.byteLength(a.slice("ipc://".length))).toBeLessThanOrEqual(MAX_IPC_PATH_BYTES);
    expect(dir.ipc("x".repeat(299))).not.toBe(a);
    expect(socketFileName("a/b c")).toMatch(/^a_b_c-[0-9a-f]{10}\.sock$/);
    expect(() => ipcEndpoint("/" + "d".repeat(120), "n")).toThrow(/longer than/);
    return dir.cleanup();
  });

  it("transport address - tcp endpoints, wildcards and unique addresses", () => {
    expect(tcpEndpoint("127.0.0.1", 0)).toBe("tcp://127.0.0.1:0");
    expect(tcpEndpoint("::1", 5)).toBe("tcp://[::1]:5");
    expect(() => tcpEndpoint("h", 70000)).toThrow();
    expect(advertisedEndpoint("tcp://0.0.0.0:5555", "10.0.0.2")).toBe("tcp://10.0.0.2:5555");
    expect(advertisedEndpoint("tcp://127.0.0.1:5555", "10.0.0.2")).toBe("tcp://127.0.0.1:5555");
    expect(endpointHost("tcp://[::1]:5")).toBe("[::1]");
    expect(uniqueAddress("inproc")).not.toBe(uniqueAddress("inproc"));
    expect(() => uniqueAddress("ipc")).toThrow();
  });
});
