/**
 * `tubular host`: a host agent. Joins a command node from this machine,
 * reports its resources, and runs the node runners placed on it until
 * stopped (Ctrl-C or SIGTERM ends them too).
 */
import { Command, Option } from "commander";
import { HostAgent } from "../host/host-agent.ts";
import { registryWorkerOptions, runRegistryWorker, type RegistryHostOptions } from "./host-registry.ts";
import { rootLogger } from "../log.ts";
import { externalAddress } from "../runner/zmq/zmq-runner.ts";
import { CliError, ExitCode, LOG_LEVELS, defaultContext, reportError, type CliContext, type LogLevel } from "./common.ts";
import { keyPairFrom, publicKeyFrom } from "./keys.ts";

interface HostOptions extends RegistryHostOptions {
  connect: string;
  name: string;
  labels?: string;
  keys: string;
  commandKey: string;
  advertise?: string;
  modules?: string;
  logLevel: LogLevel;
}

export function hostCommand(ctx: CliContext = defaultContext()): Command {
  const command = new Command("host")
    .description("run a host agent: join a command node, report this machine's resources, run the node runners placed on it")
    .option("-c, --connect <endpoint>", "the command node's address, e.g. tcp://10.0.0.1:5555")
    .option("--name <name>", "this host's name, as graphs place nodes with `host: NAME`")
    .option("--labels <a,b>", "labels graphs may ask for with `labels: [..]`")
    .option("--keys <dir>", "this host's key pair directory (tubular keygen --out DIR)")
    .option("--command-key <file|z85>", "the command node's public key, as its file or its text")
    .option("--advertise <host>", "the address other machines reach this one at (default: this machine's first external IPv4)")
    .option("--modules <dir>", "the folder relative module node types (./x.ts#y) resolve from (default: the working directory)")
    .addOption(new Option("--log-level <level>", "log level").choices(LOG_LEVELS).default("info"));
  return registryWorkerOptions(command)
    .addHelpText(
      "after",
      `
A host never runs code that arrives over the network: node types resolve from
its own installed node library and --modules folder.

Example:
  $ tubular host --connect tcp://10.0.0.1:5555 --name gpu1 --labels gpu \\
      --keys ~/.tubular/keys --command-key command.key
  $ tubular host --registry http://10.0.0.1:8765 --api-key KEY --tags gpu --max-runs 2`,
    )
    .action(async (options: HostOptions) => {
      try {
        if (options.registry) {
          ctx.exitCode = await runRegistryWorker(options, ctx);
          return;
        }
        for (const [flag, value] of [["--connect", options.connect], ["--name", options.name], ["--keys", options.keys], ["--command-key", options.commandKey]] as const) {
          if (!value) throw new CliError(`${flag} is required (or --registry URL to work for a job registry)`, ExitCode.CONFIG);
        }
        if (!/^tcp:\/\/[^:]+:\d+$/.test(options.connect)) throw new CliError(`--connect ${options.connect}: expected tcp://HOST:PORT`, ExitCode.CONFIG);
        const logger = rootLogger(options.logLevel);
        const agent = new HostAgent({
          connect: options.connect,
          name: options.name,
          labels: options.labels ? options.labels.split(",").map((l) => l.trim()).filter(Boolean) : [],
          keys: await keyPairFrom(options.keys, "--keys"),
          commandKey: await publicKeyFrom(options.commandKey, "--command-key"),
          advertise: options.advertise ?? externalAddress(),
          ...(options.modules ? { modules: options.modules } : {}),
          logger,
        });
        // Listen for the stop signal before starting, so one that comes during start-up still cleans up.
        const stopped = new Promise<void>((resolve) => {
          for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => resolve());
        });
        await agent.start();
        await stopped;
        await agent.close();
        ctx.exitCode = ExitCode.OK;
      } catch (err) {
        ctx.exitCode = reportError(err, ctx.stderr);
      }
    });
}
