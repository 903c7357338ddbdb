/**
 * `tubular serve`: the JSON-RPC 2.0 over WebSocket bridge (endpoint
 * /ws/v0/rpc/), until Ctrl-C or SIGTERM.
 */
import { Command, Option } from "commander";
import { startBridge } from "../bridge/index.ts";
import { rootLogger } from "../log.ts";
import { ExitCode, LOG_LEVELS, defaultContext, parsePositiveInt, reportError, type CliContext, type LogLevel } from "./common.ts";

interface ServeOptions {
  host: string;
  port: number;
  apiKeys?: string;
  graphs?: string;
  logLevel: LogLevel;
}

export function serveCommand(ctx: CliContext = defaultContext()): Command {
  return new Command("serve")
    .description("serve the JSON-RPC 2.0 over WebSocket bridge at ws://HOST:PORT/ws/v0/rpc/")
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("-p, --port <port>", "port to listen on (0: any free port)", parsePositiveInt("--port"), 8765)
    .option("--api-keys <file>", "a file of API keys, one a line; keys also come from TUBULAR_API_KEYS (comma-separated)")
    .option("--graphs <dir>", "the folder tube.load's `path` may name graph files in")
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
        const { server, url } = await startBridge({
          host: options.host,
          port: options.port,
          ...(options.apiKeys ? { apiKeysFile: options.apiKeys } : {}),
          ...(options.graphs ? { graphsDir: options.graphs } : {}),
        });
        logger.info({ url }, "bridge listening");
        ctx.stderr.write(`tubular: serving ${url}\n`);
        await new Promise<void>((resolve) => {
          for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => resolve());
        });
        await server.close();
        ctx.exitCode = ExitCode.OK;
      } catch (err) {
        ctx.exitCode = reportError(err, ctx.stderr);
      }
    });
}
