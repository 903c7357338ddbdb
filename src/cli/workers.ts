/**
 * `tubular workers`: the workers of a job registry, their resources, what
 * they run and whether they are online.
 */
import { Command } from "commander";
import { ExitCode, defaultContext, reportError, type CliContext } from "./common.ts";
import { clientFrom, serverOptions, table, type ServerOptions } from "./registry-client-options.ts";

type Json = Record<string, any>;

export function workersCommand(ctx: CliContext = defaultContext()): Command {
  return serverOptions(new Command("workers").description("list the workers of a job registry (tubular serve)")).action(async (o: ServerOptions) => {
    try {
      const workers = (await clientFrom(o).listWorkers()) as Json[];
      if (o.json) ctx.stdout.write(`${JSON.stringify(workers)}\n`);
      else
        ctx.stdout.write(
          table(
            ["WORKER", "STATUS", "CPU", "RAM_MB", "GPUS", "TAGS", "RUNNING", "LAST_HEARTBEAT"],
            workers.map((w) => [w.worker_id, w.status, String(w.resources.cpu_cores), String(w.resources.ram_mb), String(w.resources.gpus.length), w.tags.join(",") || "-", String(w.running_ops.length), w.last_heartbeat]),
          ),
        );
      ctx.exitCode = ExitCode.OK;
    } catch (err) {
      ctx.exitCode = reportError(err, ctx.stderr);
    }
  });
}
