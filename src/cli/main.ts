/**
 * The `tubular` command: assembles one subcommand per file.
 */
import { createRequire } from "node:module";
import { Command, CommanderError } from "commander";
import { ExitCode, defaultContext, reportError, type CliContext } from "./common.ts";

type CommandFactory = (ctx: CliContext) => Command;

/**
 * The subcommands, in help order. Each module is imported only when the command line names
 * it (help imports them all): importing every command's runtime (bridge, ZeroMQ, hosts) cost
 * most of a second at each start (bench/cli-startup).
 */
const COMMANDS: ReadonlyArray<readonly [string, () => Promise<CommandFactory>]> = [
  ["run", async () => (await import("./run.ts")).runCommand],
  ["validate", async () => (await import("./validate.ts")).validateCommand],
  ["schema", async () => (await import("./schema.ts")).schemaCommand],
  ["keygen", async () => (await import("./keygen.ts")).keygenCommand],
  ["host", async () => (await import("./host.ts")).hostCommand],
  ["status", async () => (await import("./status.ts")).statusCommand],
  ["serve", async () => (await import("./serve.ts")).serveCommand],
  ["jobs", async () => (await import("./jobs.ts")).jobsCommand],
  ["workers", async () => (await import("./workers.ts")).workersCommand],
  ["runs", async () => (await import("./runs.ts")).runsCommand],
];

/** The subcommands a command line needs: the one it names; none for the version; else all. */
function commandsFor(argv: readonly string[]): Array<readonly [string, () => Promise<CommandFactory>]> {
  const named = COMMANDS.filter(([name]) => name === argv[2]);
  if (named.length > 0) return named;
  if (argv.length === 3 && (argv[2] === "-V" || argv[2] === "--version")) return [];
  return [...COMMANDS];
}

function version(): string {
  // By the package's own name: the same from src/ and from the compiled dist/src/.
  return (createRequire(import.meta.url)("tubular/package.json") as { version: string }).version;
}

/** The `tubular` program with the given subcommands (all by default). */
export async function buildProgram(ctx: CliContext = defaultContext(), commands = COMMANDS): Promise<Command> {
  const program = new Command("tubular")
    .description("tubular: a distributed node-graph runtime. Run, check and describe graph (tube) files.")
    .version(version(), "-V, --version", "print the version")
    .helpOption("-h, --help", "show help for a command")
    .showHelpAfterError("(add --help for usage)")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
    })
    .addHelpText(
      "after",
      `
Exit codes: 0 ok, 1 a node or the runtime failed, 2 invalid graph, input or usage.

Examples:
  $ tubular run examples/basic.yaml
  $ tubular run examples/basic.yaml --epochs 3 --json
  $ tubular validate examples/basic.yaml
  $ tubular schema > tube.schema.json

Run "tubular <command> --help" for a command's options.`,
    );
  const factories = await Promise.all(commands.map(([, load]) => load()));
  for (const command of factories.map((make) => make(ctx))) {
    command.exitOverride().configureOutput({ writeOut: (s) => ctx.stdout.write(s), writeErr: (s) => ctx.stderr.write(s) }).showHelpAfterError("(add --help for usage)");
    program.addCommand(command);
  }
  return program;
}

/** Runs the command line; resolves with the exit code. */
export async function main(argv: readonly string[], ctx: CliContext = defaultContext()): Promise<number> {
  const program = await buildProgram(ctx, commandsFor(argv));
  if (argv.length <= 2) {
    program.outputHelp();
    return ExitCode.CONFIG;
  }
  try {
    await program.parseAsync([...argv]);
    return ctx.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.OK : ExitCode.CONFIG;
    return reportError(err, ctx.stderr);
  }
}
