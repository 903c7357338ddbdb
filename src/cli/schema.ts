/** `tubular schema`: prints the JSON Schema of the graph file format, generated from its zod schema. */
import { Command } from "commander";
import { tubeJsonSchema } from "../spec/schema.ts";
import { ExitCode, defaultContext, type CliContext } from "./common.ts";

export function schemaCommand(ctx: CliContext = defaultContext()): Command {
  return new Command("schema")
    .description("print the JSON Schema of the graph file format")
    .option("--compact", "print it on one line")
    .addHelpText(
      "after",
      `
Editors that read JSON Schema can check graph files with it, e.g. with the
YAML language server:
  $ tubular schema > tube.schema.json
  # yaml-language-server: $schema=./tube.schema.json   (first line of a graph file)`,
    )
    .action((options: { compact?: boolean }) => {
      ctx.stdout.write(`${JSON.stringify(tubeJsonSchema(), null, options.compact ? undefined : 2)}\n`);
      ctx.exitCode = ExitCode.OK;
    });
}
