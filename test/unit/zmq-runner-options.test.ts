import { describe, expect, it } from "vitest";
import { loadTubeFromSpec } from "../../src/spec/load.ts";
import { ZmqRunner } from "../../src/runner/zmq/zmq-runner.ts";
import { rootLogger } from "../../src/log.ts";
import { RunDir } from "../../src/transport/address.ts";
import { TubularError } from "../../src/errors.ts";
import { createRunner } from "../../src/runner/factory.ts";
import { LocalRunner } from "../../src/runner/local.ts";

const tube = () => loadTubeFromSpec({ noob_id: "o", nodes: { a: { type: "count" }, return: { type: "return", depends: "a.index" } } }, { baseDir: process.cwd() });

describe("zmq runner - options", () => {
  it.each([
    [{ maxInFlight: 0 }, "maxInFlight"],
    [{ maxInFlight: 1.5 }, "maxInFlight"],
    [{ heartbeatMs: -1 }, "heartbeatMs"],
    [{ transport: "udp" }, "transport"],
    [{ listen: "0.0.0.0:5555" }, "listen"],
    [{ maxMessageBytes: 0 }, "maxMessageBytes"],
    [{ logLevel: "loud" }, "logLevel"],
    [{ maxInflight: 4 }, "maxInflight"],
  ])("%j is refused at construction, naming %s", async (options, name) => {
    const t = await tube();
    let err: unknown;
    try {
      new ZmqRunner(t, options as never);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TubularError);
    expect((err as TubularError).code).toBe("TUBULAR_ERR_RUNNER_OPTIONS");
    expect((err as Error).message).toContain(`option ${name}`);
  });

  it("a runner's log level is its own: constructing one does not change the process's level", async () => {
    const t = await tube();
    const before = rootLogger().level;
    new ZmqRunner(t, { logLevel: "trace" });
    new ZmqRunner(t, { logLevel: "silent" });
    expect(rootLogger().level).toBe(before);
  });

  it("eleven run directories in one process add one exit listener, and cleaning up removes them from it", async () => {
    const before = process.listenerCount("exit");
    const dirs = await Promise.all(Array.from({ length: 11 }, () => RunDir.create({ prefix: "tubular-opt-" })));
    expect(process.listenerCount("exit") - before).toBeLessThanOrEqual(1);
    await Promise.all(dirs.map((d) => d.cleanup()));
  });

  it("the one runner factory makes both kinds", async () => {
    const t = await tube();
    expect(await createRunner("local", t, {})).toBeInstanceOf(LocalRunner);
    expect(await createRunner("zmq", t, { maxInFlight: 8 })).toBeInstanceOf(ZmqRunner);
  });
});

describe("runner died error", () => {
  it("names every node the process held, and is a NodeError", async () => {
    const { RunnerDiedError, NodeError } = await import("../../src/errors.ts");
    const err = new RunnerDiedError({ nodeIds: ["a", "b"], epoch: 3, how: "was killed by SIGKILL" });
    expect(err).toBeInstanceOf(NodeError);
    expect(err.code).toBe("TUBULAR_ERR_RUNNER_DIED");
    expect(err.nodeIds).toEqual(["a", "b"]);
    expect(err.nodeId).toBe("a");
    expect(err.message).toBe('nodes "a", "b" at epoch 3: RunnerDied: was killed by SIGKILL');
  });
});
