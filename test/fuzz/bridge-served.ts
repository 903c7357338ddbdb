/**
 * A bridge server in its own process for hostile-input tests and the fuzz
 * suite, and the check that matters after any abuse: a well-behaved client is
 * still served, with the right values.
 */
import { expect } from "vitest";
import { Raw } from "../integration/bridge-raw.ts";
import { serveProcess, type Served } from "./child-process.ts";

export const FUZZ_KEY = "fuzz-key";
export type BridgeReady = { port: number; pid: number };

/** Starts test/fuzz/bridge-serve-main.ts with these BridgeServer options (limits). */
export function bridgeProcess(options: Record<string, unknown> = {}): Promise<Served<BridgeReady>> {
  return serveProcess<BridgeReady>("test/fuzz/bridge-serve-main.ts", [JSON.stringify(options)]);
}

export function rpcUrl(port: number): string {
  return `ws://127.0.0.1:${port}/ws/v0/rpc/`;
}

/** A well-behaved client: loads x -> x*x, runs it for a few inputs, checks every value, and cleans up. */
export async function wellBehaved(port: number, inputs: number[] = [3, 7]): Promise<void> {
  const raw = await Raw.open(rpcUrl(port), FUZZ_KEY);
  raw.autoMirror();
  try {
    const tube = await raw.call("tube.load", {
      graph: {
        input: { x: { scope: "process", type: "number" } },
        nodes: { d: { type: "multiply", depends: [{ left: "input.x" }, { right: "input.x" }] }, out: { type: "return", depends: "d.value" } },
      },
    });
    expect(tube.error).toBeUndefined();
    const init = await raw.call("runner.init", { tube_id: tube.result.tube_id });
    expect(init.error).toBeUndefined();
    for (const x of inputs) {
      const r = await raw.call("runner.process", { runner_id: init.result.runner_id, input: { x } });
      expect(r.result).toEqual({ epoch: expect.any(Number), value: x * x });
    }
    await raw.call("runner.deinit", { runner_id: init.result.runner_id });
  } finally {
    raw.close();
  }
}
