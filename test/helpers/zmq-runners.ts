/** ZmqRunners for a test file: started from a spec, all deinitialized after each test. */
import { afterEach } from "vitest";
import { loadTubeFromSpec } from "../../src/spec/load.ts";
import { ZmqRunner, type ZmqRunnerOptions } from "../../src/runner/zmq/zmq-runner.ts";
import { projectRoot } from "./acceptance.ts";

/** Swallows the runner processes' output. */
export const devNull = { write: () => true } as unknown as NodeJS.WritableStream;

/** Registers the clean-up; returns `started(spec, options)`, which builds and initializes a runner. */
export function useZmqRunners(): (spec: unknown, options?: ZmqRunnerOptions) => Promise<ZmqRunner> {
  const runners: ZmqRunner[] = [];
  afterEach(async () => {
    for (const r of runners.splice(0)) await r.deinit();
  });
  return async (spec, options = {}) => {
    const runner = new ZmqRunner(await loadTubeFromSpec(spec, { baseDir: projectRoot }), { output: devNull, ...options });
    runners.push(runner);
    await runner.init();
    return runner;
  };
}
