/**
 * `tubular serve`: the JSON-RPC 2.0 over WebSocket bridge (endpoint
 * /ws/v0/rpc/), until Ctrl-C or SIGTERM.
 */
import { Command, Option } from "commander";
import { startBridge } from "../bridge/index.ts";
import { DEFAULT_WORKER_TIMEOUT_MS, openJobServer } from "../bridge/registry/index.ts";
import { openTracking } from "../bridge/tracking/index.ts";
import { AgentRegistry } from "../bridge/agents/index.ts";
import { rootLogger } from "../log.ts";
import { ExitCode, LOG_LEVELS, defaultContext, parsePositiveInt, parsePositiveNumber, reportError, type CliContext, type LogLevel } from "./common.ts";

interface ServeOptions {
  host: string;
  port: number;
  apiKeys?: string;
  graphs?: string;
  db: string;
  workerTimeout: number;
  logLevel: LogLevel;
}

export function serveCommand(ctx: CliContext = defaultContext()): Command {
  return new Command("serve")
    .description("serve the JSON-RPC 2.0 over WebSocket bridge at ws://HOST:PORT/ws/v0/rpc/ and the job registry over HTTP at http://HOST:PORT/")
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("-p, --port <port>", "port to listen on (0: any free port)", parsePositiveInt("--port"), 8765)
    .option("--api-keys <file>", "a file of API keys, one a line; keys also come from TUBULAR_API_KEYS (comma-separated)")
    .option("--graphs <dir>", "the folder tube.load's `path` and jobs' `image` may name graph files in")
    .option("--db <file|url>", "the job registry's store: a SQLite file, or postgres://USER:PASS@HOST/DB to share it between servers", "tubular.db")
    .option("--worker-timeout <seconds>", "a job worker silent this long is offline and its runs are retried", parsePositiveNumber("--worker-timeout"), DEFAULT_WORKER_TIMEOUT_MS / 1000)
    .addOption(new Option("--log-level <level>", "log level").choices(LOG_LEVELS).default("info"))
    .addHelpText(
      "after",
      `
Clients send their key as "Authorization: Api-Key <key>" (or "Bearer <key>");
the first frame they receive carries their session id.

Example:
  $ TUBULAR_API_KEYS=secret tubular serve --port 8765 --graphs examples`,
    )
    .action(async (options: ServeOptions) => {
      try {
        const logger = rootLogger(options.logLevel);
        const jobs = await openJobServer({ db: options.db, graphsDir: options.graphs, workerTimeoutMs: options.workerTimeout * 1000, log: logger });
        const tracking = await openTracking(jobs.store, logger);
        // Every run of the job registry is tracked, whichever kind of worker runs it.
        jobs.registry.observe(tracking.jobs.observe);
        const agents = new AgentRegistry({ store: jobs.store, log: logger, tracking: tracking.jobs });
        agents.start();
        const { server, url } = await startBridge({
          httpHandler: (req, res, keys) => agents.handleHttp(req, res, keys) || tracking.httpHandler(req, res, keys) || jobs.httpHandler(req, res, keys),
          upgradeHandler: (req, socket, head, keys) => agents.handleUpgrade(req, socket, head, keys),
          dashboardJobs: jobs.store,
          tracker: tracking.tracker,
          dashboardTracking: jobs.store.tracking,
          host: options.host,
          port: options.port,
          ...(options.apiKeys ? { apiKeysFile: options.apiKeys } : {}),
          ...(options.graphs ? { graphsDir: options.graphs } : {}),
        }).catch(async (err: unknown) => {
          await agents.close();
          await tracking.jobs.close();
          await jobs.close();
          throw err;
        });
        logger.info({ url }, "bridge listening");
        ctx.stderr.write(`tubular: serving ${url}\n`);
        ctx.stderr.write(`tubular: job registry at ${url.replace(/^ws/, "http").replace(/\/ws\/v0\/rpc\/$/, "")} (store: ${jobs.store.kind})\n`);
        ctx.stderr.write(`tubular: dashboard at ${url.replace(/^ws/, "http").replace(/ws\/v0\/rpc\/$/, "")}\n`);
        await new Promise<void>((resolve) => {
          for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => resolve());
        });
        // Workers first: an open worker socket would hold the HTTP server's close.
        await agents.close();
        await server.close();
        await tracking.jobs.close();
        await jobs.close();
        ctx.exitCode = ExitCode.OK;
      } catch (err) {
        ctx.exitCode = reportError(err, ctx.stderr);
      }
    });
}
