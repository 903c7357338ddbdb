/**
 * `tubular host --registry URL`: the host agent as a worker of the job
 * registry (http://SERVER:PORT, polling) or of the worker registry
 * (ws://SERVER:PORT/agent, pushed its runs). Its options, and the loop that
 * runs it until Ctrl-C or SIGTERM.
 */
import { Option, type Command } from "commander";
import { AgentWorker } from "../host/agent-worker.ts";
import { RegistryWorker } from "../host/registry-worker.ts";
import { rootLogger } from "../log.ts";
import { CliError, ExitCode, parsePositiveInt, type CliContext, type LogLevel } from "./common.ts";

export interface RegistryHostOptions {
  registry?: string;
  apiKey?: string;
  token?: string;
  workerId?: string;
  tags?: string;
  maxRuns?: number;
  runner?: "zmq" | "local";
  stateDir?: string;
  modules?: string;
  logLevel: LogLevel;
}

export function registryWorkerOptions(command: Command): Command {
  return command
    .option("--registry <url>", "work for a job registry instead: http://SERVER:PORT (polling) or ws://SERVER:PORT/agent (WebSocket) of tubular serve")
    .option("--api-key <key>", "with --registry: the server's API key (default: TUBULAR_API_KEY)")
    .option("--token <key>", "with --registry ws://...: the server's API key, sent as the bearer token (same as --api-key)")
    .option("--worker-id <id>", "with --registry: this worker's id (default: host name plus a suffix kept in --state-dir)")
    .option("--tags <a,b>", "with --registry: tags runs may ask for in their constraints")
    .option("--max-runs <n>", "with --registry: runs at once (default 1)", parsePositiveInt("--max-runs"))
    .addOption(new Option("--runner <kind>", "with --registry: where graphs run").choices(["zmq", "local"]).default("zmq"))
    .option("--state-dir <dir>", "with --registry: where the worker id is kept (default ~/.tubular/host-agent)");
}

export async function runRegistryWorker(options: RegistryHostOptions, ctx: CliContext): Promise<number> {
  const ws = /^wss?:\/\/[^/]+\/agent\/?$/.test(options.registry ?? "");
  if (!ws && !/^https?:\/\/[^/]+\/?$/.test(options.registry ?? "")) throw new CliError(`--registry ${options.registry}: expected http://HOST:PORT or ws://HOST:PORT/agent`, ExitCode.CONFIG);
  const apiKey = options.token ?? options.apiKey ?? process.env.TUBULAR_API_KEY;
  if (!apiKey) throw new CliError(`--registry needs ${ws ? "--token" : "--api-key"} KEY (or TUBULAR_API_KEY)`, ExitCode.CONFIG);
  if (options.maxRuns === 0) throw new CliError("--max-runs must be at least 1", ExitCode.CONFIG);
  const logger = rootLogger(options.logLevel);
  const tags = options.tags ? options.tags.split(",").map((t) => t.trim()).filter(Boolean) : [];
  if (ws) return runAgentWorker(new AgentWorker({ url: options.registry!, token: apiKey, ...(options.workerId ? { workerId: options.workerId } : {}), tags, maxRuns: options.maxRuns ?? 1, runner: options.runner ?? "zmq", ...(options.modules ? { modulesDir: options.modules } : {}), logger }), options.registry!, ctx);
  const worker = new RegistryWorker({
    url: options.registry!,
    apiKey,
    ...(options.workerId ? { workerId: options.workerId } : {}),
    ...(options.stateDir ? { stateDir: options.stateDir } : {}),
    tags,
    maxRuns: options.maxRuns ?? 1,
    runner: options.runner ?? "zmq",
    ...(options.modules ? { modulesDir: options.modules } : {}),
    logger,
  });
  const stopped = new Promise<void>((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => resolve());
  });
  const id = await worker.start();
  ctx.stderr.write(`tubular: worker ${id} working for ${options.registry}\n`);
  await stopped;
  await worker.close();
  return ExitCode.OK;
}

/** Runs the WebSocket worker until a stop signal, or until it gives up reconnecting (then fails naming the URL). */
async function runAgentWorker(worker: AgentWorker, url: string, ctx: CliContext): Promise<number> {
  const stopped = new Promise<void>((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => resolve());
  });
  const id = await Promise.race([worker.start(), stopped.then(() => undefined)]);
  if (id !== undefined) ctx.stderr.write(`tubular: worker ${id} working for ${url}\n`);
  try {
    await Promise.race([stopped, worker.stopped]);
  } finally {
    await worker.close();
  }
  return ExitCode.OK;
}
