/** ZmqRunners for a test file: started from a spec, all deinitialized after each test. */
import { Writable } from "node:stream";
import { afterEach } from "vitest";
import { loadTubeFromSpec } from "../../src/spec/load.ts";
import { ZmqRunner, type ZmqRunnerOptions } from "../../src/runner/zmq/zmq-runner.ts";
import { projectRoot } from "./acceptance.ts";

/** Swallows the runner processes' output (every test's one sink for it). */
export const devNull: NodeJS.WritableStream = new Writable({ write: (_chunk, _encoding, done) => done() });

/**
 * Registers the clean-up; returns `started(spec, options, beforeInit)`, which builds and
 * initializes a runner. `beforeInit` adds listeners that must hear from the first epoch (an
 * `event` listener added after `init()` can miss the events of messages already under way).
 */
export function useZmqRunners(): (spec: unknown, options?: ZmqRunnerOptions, beforeInit?: (runner: ZmqRunner) => void) => Promise<ZmqRunner> {
  const runners: ZmqRunner[] = [];
  afterEach(async () => {
    for (const r of runners.splice(0)) await r.deinit();
  });
  return async (spec, options = {}, beforeInit) => {
    const runner = new ZmqRunner(await loadTubeFromSpec(spec, { baseDir: projectRoot }), { output: devNull, ...options });
    runners.push(runner);
    beforeInit?.(runner);
    await runner.init();
    return runner;
  };
}
