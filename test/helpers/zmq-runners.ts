/** ZmqRunners for a test file: started from a spec, all deinitialized after each test. */
import { Writable } from "node:stream";
import { afterEach } from "vitest";
import { loadTubeFromSpec } from "../../src/spec/load.ts";
import { ZmqRunner, type ZmqRunnerOptions } from "../../src/runner/zmq/zmq-runner.ts";
import { projectRoot } from "./acceptance.ts";

/** Swallows the runner processes' output (every test's one sink for it). */
export const devNull: NodeJS.WritableStream = new Writable({ write: (_chunk, _encoding, done) => done() });

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
