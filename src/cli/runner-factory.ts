/**
 * The one place the CLI turns `--runner NAME` (and the options of several
 * machines) into runner options for the one runner factory (runner/factory.ts). Every command that runs a tube goes through here,
 * so a new runner is wired once.
 */
import type { Logger } from "../log.ts";
import type { Tube } from "../graph/tube.ts";
import { createRunner as makeRunner, RUNNER_KINDS, type RunnerKind } from "../runner/factory.ts";
import type { Runner } from "../runner/runner.ts";
import type { ZmqRunnerOptions } from "../runner/zmq/options.ts";
import { CliError, ExitCode } from "./common.ts";
import type { ProcessesMode } from "../runner/zmq/packing.ts";

export { RUNNER_KINDS, type RunnerKind };

export interface RunnerFactoryOptions {
  kind: RunnerKind;
  logger: Logger;
  /** Epochs in flight at once during free-run. */
  maxInFlight?: number;
  /** Several machines (zmq only): where host agents connect, the command's key pair directory, the trusted hosts' key directory. */
  listen?: string;
  keys?: string;
  trust?: string;
  advertise?: string;
  /** zmq only: how nodes are put into processes. */
  processes?: ProcessesMode;
}

export async function createRunner(tube: Tube, options: RunnerFactoryOptions): Promise<Runner> {
  const window = options.maxInFlight === undefined ? {} : { maxInFlight: options.maxInFlight };
  const distributed = options.listen !== undefined || options.keys !== undefined || options.trust !== undefined;
  switch (options.kind) {
    case "local":
      if (options.processes) throw new CliError("--processes needs --runner zmq", ExitCode.CONFIG);
      if (distributed) throw new CliError("--listen, --keys and --trust need --runner zmq", ExitCode.CONFIG);
      return makeRunner("local", tube, window);
    case "zmq": {
      const zmq: ZmqRunnerOptions = { ...window, logLevel: options.logger.level as ZmqRunnerOptions["logLevel"], ...(options.processes ? { processes: options.processes } : {}) };
      if (distributed) {
        const { keyPairFrom, trustFrom } = await import("./keys.ts");
        if (!options.listen || !options.keys) throw new CliError("several machines need --listen tcp://HOST:PORT and --keys DIR (and --trust DIR for the hosts' public keys)", ExitCode.CONFIG);
        if (!/^tcp:\/\/[^:]+:\d+$/.test(options.listen)) throw new CliError(`--listen ${options.listen}: expected tcp://HOST:PORT`, ExitCode.CONFIG);
        zmq.listen = options.listen;
        zmq.keys = await keyPairFrom(options.keys, "--keys");
        if (options.trust) zmq.trust = await trustFrom(options.trust);
        if (options.advertise) zmq.advertise = options.advertise;
      }
      return makeRunner("zmq", tube, zmq);
    }
  }
}
