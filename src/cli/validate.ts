/**
 * `tubular validate FILE`: checks a graph file without running it. Exits 0
 * when the graph is valid, 2 when it is not (the error names file: path: reason).
 *
 * It checks structure. A required tube input that was not given is not an
 * error of the graph when no --input is given at all: validate then fills in
 * stand-ins to check the rest, reports the graph valid and lists the inputs a
 * run will need. With --input, the given inputs are checked as a run would.
 */
import path from "node:path";
import { Command } from "commander";
import { SpecError } from "../errors.ts";
import type { Tube } from "../graph/tube.ts";
import { loadTube, type LoadOptions } from "../spec/load.ts";
import { collectList, loadOptionsFrom, type LoadCliOptions } from "./load-options.ts";
import { ExitCode, collectInput, defaultContext, reportError, type CliContext } from "./common.ts";

/** Values tried, in turn, for a required tube input that was not given, until one passes its declared type. */
const STAND_INS: readonly unknown[] = [0, "", false, [], {}];

export interface ValidateResult {
  tube: Tube;
  /** Required tube inputs that were not given and were stood in for. */
  missing: string[];
}

/** Loads the graph; with no inputs given, stands in for missing required tube inputs of this file. */
export async function validateGraph(file: string, input: Record<string, unknown>, options: LoadOptions = {}): Promise<ValidateResult> {
  const given = Object.keys(input).length > 0;
  const abs = path.resolve(file);
  const standIn: Record<string, unknown> = {};
  const tried = new Map<string, number>();
  for (;;) {
    try {
      const tube = await loadTube(file, { ...options, input: { ...input, ...standIn } });
      return { tube, missing: Object.keys(standIn) };
    } catch (err) {
      if (given || !(err instanceof SpecError) || err.file !== abs || !err.path.startsWith("input.")) throw err;
      const name = err.path.slice("input.".length);
      const missingNow = err.code === "TUBULAR_ERR_INPUT_MISSING";
      const wrongStandIn = err.code === "TUBULAR_ERR_INPUT_INVALID" && name in standIn;
      if (!missingNow && !wrongStandIn) throw err;
      const next = tried.get(name) ?? 0;
      if (next >= STAND_INS.length) throw err;
      tried.set(name, next + 1);
      standIn[name] = STAND_INS[next];
    }
  }
}

export function validateCommand(ctx: CliContext = defaultContext()): Command {
  return new Command("validate")
    .description("check a graph file without running it: exit 0 when valid, 2 when not")
    .argument("<file>", "graph file (.yaml, .yml or .json)")
    .option("-i, --input <key=value>", "a tube-scoped input to check with the graph; the value is parsed as JSON when it is valid JSON, else taken as a string (repeatable)", collectInput)
    .option("--type-map <file|name=type>", 'maps node and asset type names to types, e.g. "noob.testing.*=./noob_testing.ts#*", or a YAML/JSON map file (repeatable)', collectList)
    .option("--tube-path <dir>", "a folder searched (recursively) for a tube: or extends: given as a noob_id (repeatable)", collectList)
    .option("--strict-inputs", "an input the graph does not declare is an error (default: a warning)")
    .addHelpText(
      "after",
      `
Without --input, a required tube input that is not given is not an error:
validate checks the graph's structure, reports it valid and lists the tube
inputs a run will need. With --input, inputs are checked as "run" would.

Exit codes:
  0  the graph is valid
  2  the graph is invalid (the message names file: path: reason)

Examples:
  $ tubular validate examples/basic.yaml
  $ tubular validate examples/basic.yaml --input factor=3`,
    )
    .action(async (file: string, options: { input?: Record<string, unknown> } & LoadCliOptions) => {
      try {
        const { tube, missing } = await validateGraph(file, options.input ?? {}, await loadOptionsFrom(options, ctx.stderr));
        const ret = tube.returnShape ? `returns a ${tube.returnShape.kind}` : "no return node";
        ctx.stdout.write(`${file}: valid (tube "${tube.id}", ${tube.nodes.size} nodes, ${ret})\n`);
        if (missing.length > 0) {
          ctx.stdout.write(`required tube inputs, to give with --input when running:\n`);
          for (const name of missing) {
            const decl = tube.inputs[name]!;
            ctx.stdout.write(`  ${name} (${decl.type})${decl.description ? `: ${decl.description}` : ""}\n`);
          }
        }
        const processInputs = Object.entries(tube.inputs).filter(([, d]) => d.scope === "process");
        if (processInputs.length > 0) {
          ctx.stdout.write(`process inputs, given per epoch (--process-inputs):\n`);
          for (const [name, d] of processInputs) {
            const req = (d.required ?? d.default === undefined) ? "required" : `default ${JSON.stringify(d.default)}`;
            ctx.stdout.write(`  ${name} (${d.type}, ${req})\n`);
          }
        }
        ctx.exitCode = ExitCode.OK;
      } catch (err) {
        const code = reportError(err, ctx.stderr);
        ctx.exitCode = err instanceof SpecError ? ExitCode.CONFIG : code;
      }
    });
}
