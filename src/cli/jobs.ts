/**
 * `tubular jobs`: submit graphs as jobs to a job registry (tubular serve),
 * list them, show one (following its events with a progress bar), cancel and
 * retry. Every subcommand takes --json.
 */
import { stat } from "node:fs/promises";
import { Command } from "commander";
import { readGraphFile } from "../bridge/registry/graph-source.ts";
import type { RegistryClient } from "../bridge/registry/client.ts";
import { CliError, ExitCode, collectInput, defaultContext, parsePositiveInt, reportError, type CliContext } from "./common.ts";
import { clientFrom, serverOptions, table, type ServerOptions } from "./registry-client-options.ts";

type Json = Record<string, any>;
const FINAL = ["COMPLETED", "FAILED", "CANCELLED"];

interface SubmitOptions extends ServerOptions {
  input?: Record<string, unknown>;
  epochs?: number;
  priority?: string;
  version?: string;
  follow?: boolean;
}

function action<T extends unknown[]>(ctx: CliContext, fn: (...args: T) => Promise<number>): (...args: T) => Promise<void> {
  return async (...args: T) => {
    try {
      ctx.exitCode = await fn(...args);
    } catch (err) {
      ctx.exitCode = reportError(err, ctx.stderr);
    }
  };
}

function parseInteger(name: string): (t: string) => number {
  return (t) => {
    const n = Number(t);
    if (!Number.isInteger(n)) throw new CliError(`${name} must be a whole number, got "${t}"`);
    return n;
  };
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

function bar(pct: number): string {
  const n = Math.round(pct / 5);
  return `[${"#".repeat(n)}${" ".repeat(20 - n)}] ${String(Math.round(pct)).padStart(3)}%`;
}

function eventLine(e: Json): string {
  const payload = e.payload ? ` ${JSON.stringify(e.payload)}` : "";
  return `${e.t}  #${e.id} ${e.type.padEnd(9)} ${e.state.padEnd(9)} ${e.msg}${payload}`;
}

/** Prints the run's events from `after` on until it reaches a final state; resolves with its last state. */
async function follow(client: RegistryClient, id: string, ctx: CliContext, json: boolean, after = -1): Promise<Json> {
  let last = after;
  let drawn = false;
  const tty = (ctx.stderr as NodeJS.WriteStream).isTTY === true;
  for (;;) {
    const events = (await client.pollEvents(id, last)).events as Json[];
    for (const e of events) {
      if (drawn) {
        ctx.stderr.write("\r\x1b[K");
        drawn = false;
      }
      ctx.stdout.write(`${json ? JSON.stringify(e) : eventLine(e)}\n`);
      last = Number(e.id);
    }
    const run = await client.getRun(id);
    if (tty && !json && run.state === "RUNNING") {
      ctx.stderr.write(`\r\x1b[K${bar(Number(run.progress))}`);
      drawn = true;
    }
    if (FINAL.includes(String(run.state)) && events.length === 0) {
      if (drawn) ctx.stderr.write("\r\x1b[K");
      return run;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

function exitFor(run: Json): number {
  return run.state === "COMPLETED" ? ExitCode.OK : ExitCode.FAILED;
}

export function jobsCommand(ctx: CliContext = defaultContext()): Command {
  const jobs = new Command("jobs").description("submit graphs as jobs to a job registry (tubular serve), and watch, cancel and retry them");

  jobs.addCommand(
    serverOptions(
      new Command("submit")
        .description("submit a graph file (sent inline) or a registered definition NAME as a job; prints the run id")
        .argument("<file|name>", "a graph file here, or the name of a definition on the server")
        .option("-i, --input <key=value>", "a tube input (JSON when valid JSON, else a string; repeatable)", collectInput)
        .option("-n, --epochs <n>", "epochs to run (default 1)", parsePositiveInt("--epochs"))
        .option("--priority <p>", "higher runs first (default: the definition's, else 5)")
        .option("--version <v>", "with a definition name: that version (default: the latest)")
        .option("-f, --follow", "then print the run's events until it ends; exit 0 only if it COMPLETED"),
    ).action(
      action(ctx, async (target: string, o: SubmitOptions) => {
        const client = clientFrom(o);
        const inputs: Json = { ...(o.input ?? {}), ...(o.epochs !== undefined ? { epochs: o.epochs } : {}) };
        const priority = o.priority === undefined ? undefined : parseInteger("--priority")(o.priority);
        let run: Json;
        if (await isFile(target)) {
          const graph = await readGraphFile(target).catch((err: Error) => {
            throw new CliError(`${target}: ${err.message}`);
          });
          run = await client.createRun({ image: "", graph, inputs, ...(priority !== undefined ? { priority } : {}) });
        } else {
          run = await client.createRunFromDefinition(target, { inputs, ...(priority !== undefined ? { priority } : {}) }, o.version);
        }
        if (!o.follow) {
          ctx.stdout.write(o.json ? `${JSON.stringify(run)}\n` : `${run.id}\n`);
          return ExitCode.OK;
        }
        if (!o.json) ctx.stderr.write(`run ${run.id}\n`);
        return exitFor(await follow(client, run.id, ctx, o.json === true));
      }),
    ),
  );

  jobs.addCommand(
    serverOptions(
      new Command("list")
        .description("list runs, newest first")
        .option("--state <s>", "only these states (comma-separated), e.g. PENDING,RUNNING")
        .option("--limit <n>", "at most this many (default 50)", parsePositiveInt("--limit")),
    ).action(
      action(ctx, async (o: ServerOptions & { state?: string; limit?: number }) => {
        const runs = await clientFrom(o).listRuns({ ...(o.state ? { state: o.state } : {}), limit: o.limit ?? 50 });
        if (o.json) ctx.stdout.write(`${JSON.stringify(runs)}\n`);
        else ctx.stdout.write(table(["ID", "STATE", "PRIORITY", "ATTEMPT", "WORKER", "PROGRESS", "GRAPH", "CREATED"], (runs as Json[]).map((r) => [r.id, r.state, String(r.priority), `${r.attempt}/${r.max_attempts}`, r.worker_id ?? "-", `${Math.round(r.progress)}%`, r.definition ? `${r.definition.name}@${r.definition.version}` : r.image || "(inline)", r.created_at])));
        return ExitCode.OK;
      }),
    ),
  );

  jobs.addCommand(
    serverOptions(new Command("show").description("show a run: state, outputs, attempts and events").argument("<id>").option("-f, --follow", "keep printing events as they come, with a progress bar, until the run ends")).action(
      action(ctx, async (id: string, o: ServerOptions & { follow?: boolean }) => {
        const client = clientFrom(o);
        const run: Json = await client.getRun(id);
        if (o.json && !o.follow) {
          ctx.stdout.write(`${JSON.stringify(run)}\n`);
          return ExitCode.OK;
        }
        if (!o.json) {
          ctx.stdout.write(
            `run ${run.id}\n  state     ${run.state} (attempt ${run.attempt} of ${run.max_attempts})\n  graph     ${run.definition ? `${run.definition.name}@${run.definition.version}` : run.image || "(inline)"}\n  worker    ${run.worker_id ?? "-"}\n  progress  ${run.progress}%\n  inputs    ${JSON.stringify(run.inputs)}\n  outputs   ${JSON.stringify(run.outputs)}\n${run.error_message ? `  error     ${run.error_message}\n` : ""}  attempts\n${(run.attempts as Json[]).map((a) => `    #${a.number} ${a.state} worker ${a.worker_id ?? "-"}${a.error_message ? `: ${a.error_message}` : ""}\n`).join("")}  events\n`,
          );
        }
        if (!o.follow) {
          for (const e of run.events as Json[]) ctx.stdout.write(`    ${eventLine(e)}\n`);
          return ExitCode.OK;
        }
        return exitFor(await follow(client, id, ctx, o.json === true));
      }),
    ),
  );

  for (const [name, what] of [
    ["cancel", "cancel a run (pending, assigned or running)"],
    ["retry", "queue a failed or cancelled run again, as a new attempt"],
  ] as const) {
    jobs.addCommand(
      serverOptions(new Command(name).description(what).argument("<id>")).action(
        action(ctx, async (id: string, o: ServerOptions) => {
          const client = clientFrom(o);
          const run: Json = name === "cancel" ? await client.updateRun(id, { state: "CANCELLED" }) : await client.retryRun(id);
          ctx.stdout.write(o.json ? `${JSON.stringify(run)}\n` : `${run.id} ${run.state} (attempt ${run.attempt} of ${run.max_attempts})\n`);
          return ExitCode.OK;
        }),
      ),
    );
  }
  return jobs;
}
