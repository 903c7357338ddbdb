/**
 * The one runner factory: a runner kind and its options to a Runner. The
 * CLI (cli/runner-factory.ts: flags and key files to options) and the bridge
 * (bridge/runners.ts: a client's options, checked against what a client may
 * set) both end here, so a new kind is wired once.
 */
import type { Tube } from "../graph/tube.ts";
import { LocalRunner, type LocalRunnerOptions } from "./local.ts";
import type { Runner } from "./runner.ts";
import { ZmqRunner } from "./zmq/zmq-runner.ts";
import type { ZmqRunnerOptions } from "./zmq/options.ts";

export const RUNNER_KINDS = ["local", "zmq"] as const;
export type RunnerKind = (typeof RUNNER_KINDS)[number];

export interface RunnerOptionsByKind {
  local: LocalRunnerOptions;
  zmq: ZmqRunnerOptions;
}

export function createRunner<K extends RunnerKind>(kind: K, tube: Tube, options: RunnerOptionsByKind[K]): Runner {
  switch (kind) {
    case "local":
      return new LocalRunner(tube, options as LocalRunnerOptions);
    case "zmq":
      return new ZmqRunner(tube, options as ZmqRunnerOptions);
  }
  throw new RangeError(`unknown runner kind ${String(kind)}`);
}
