/**
 * The `tubular` command: assembles one subcommand per file.
 */
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { ExitCode, defaultContext, reportError, type CliContext } from "./common.ts";
import { hostCommand } from "./host.ts";
import { jobsCommand } from "./jobs.ts";
import { workersCommand } from "./workers.ts";
import { keygenCommand } from "./keygen.ts";
import { serveCommand } from "./serve.ts";
import { statusCommand } from "./status.ts";
import { runCommand } from "./run.ts";
import { schemaCommand } from "./schema.ts";
import { validateCommand } from "./validate.ts";

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

export function buildProgram(ctx: CliContext = defaultContext()): Command {
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
  const commands = [runCommand(ctx), validateCommand(ctx), schemaCommand(ctx), keygenCommand(ctx), hostCommand(ctx), statusCommand(ctx), serveCommand(ctx)];
  commands.push(jobsCommand(ctx), workersCommand(ctx));
  for (const command of commands) {
    command.exitOverride().configureOutput({ writeOut: (s) => ctx.stdout.write(s), writeErr: (s) => ctx.stderr.write(s) }).showHelpAfterError("(add --help for usage)");
    program.addCommand(command);
  }
  return program;
}

/** Runs the command line; resolves with the exit code. */
export async function main(argv: readonly string[], ctx: CliContext = defaultContext()): Promise<number> {
  const program = buildProgram(ctx);
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
