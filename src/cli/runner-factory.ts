/**
 * The one place the CLI turns `--runner NAME` into a Runner. Every command
 * that runs a tube goes through here, so a new runner is wired once.
 */
import type { Logger } from "../log.ts";
import type { Tube } from "../graph/tube.ts";
import { LocalRunner } from "../runner/local.ts";
import type { Runner } from "../runner/runner.ts";
import { CliError, ExitCode } from "./common.ts";

export const RUNNER_KINDS = ["local", "zmq"] as const;
export type RunnerKind = (typeof RUNNER_KINDS)[number];

export interface RunnerFactoryOptions {
  kind: RunnerKind;
  logger: Logger;
  /** Epochs in flight at once during free-run. */
  maxInFlight?: number;
}

export async function createRunner(tube: Tube, options: RunnerFactoryOptions): Promise<Runner> {
  switch (options.kind) {
    case "local":
      return new LocalRunner(tube, options.maxInFlight === undefined ? {} : { maxInFlight: options.maxInFlight });
    case "zmq":
      throw new CliError("the zmq runner is not available yet; use --runner local", ExitCode.CONFIG);
  }
}
