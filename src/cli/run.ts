/**
 * `tubular run FILE`: loads a graph, runs epochs, prints each epoch's return
 * value on stdout (one JSON line per epoch with --json, and nothing else).
 *
 * Exit codes: 0 done; 1 a node failed (the epochs before it are printed, the
 * node id, epoch and message go to stderr); 2 the graph, an input or the
 * command line is wrong; 130 interrupted.
 */
import { readFile } from "node:fs/promises";
import { Command, Option } from "commander";
import { PROCESSES_MODES, type ProcessesMode } from "../runner/zmq/packing.ts";
import { InputError } from "../errors.ts";
import { loadTube } from "../spec/load.ts";
import { collectList, loadOptionsFrom, type LoadCliOptions } from "./load-options.ts";
import type { EpochResult, Runner } from "../runner/runner.ts";
import {
  CliError,
  ExitCode,
  LOG_LEVELS,
  collectInput,
  defaultContext,
  type CliContext,
  epochLine,
  parsePositiveInt,
  parsePositiveNumber,
  reportError,
  type LogLevel,
} from "./common.ts";
import { rootLogger } from "../log.ts";
import { Progress, formatRate } from "./progress.ts";
import { RUNNER_KINDS, createRunner, type RunnerKind } from "./runner-factory.ts";
import { startDashboard, type Dashboard } from "../bridge/dashboard/start.ts";
import { CliRunTracking } from "./run-tracking.ts";

export const DEFAULT_EPOCHS = 10;

export interface RunOptions extends LoadCliOptions {
  epochs?: number;
  input?: Record<string, unknown>;
  processInputs?: string;
  runner: RunnerKind;
  json?: boolean;
  quiet?: boolean;
  freeRun?: boolean;
  duration?: number;
  maxInFlight?: number;
  logLevel: LogLevel;
  listen?: string;
  keys?: string;
  trust?: string;
  advertise?: string;
  /** Serve the dashboard of this run on loopback: true for a free port, or this port. */
  dashboard?: number | true;
  processes?: ProcessesMode;
  /** Track the run in the store: a project name, or true for the graph's id. */
  track?: string | boolean;
  runName?: string;
  db?: string;
}

function parseDashboardPort(text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`--dashboard ${text}: expected a port number (0-65535)`);
  return port;
}


/** Reads a JSON Lines file: one JSON object per line (blank lines skipped), line i for epoch i. */
export async function readProcessInputs(file: string): Promise<Record<string, unknown>[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new CliError(`--process-inputs: cannot read ${file}: ${(err as Error).message}`);
  }
  const out: Record<string, unknown>[] = [];
  const lines = text.split(/\r?\n/);
  for (const [i, line] of lines.entries()) {
    if (line.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new CliError(`${file}:${i + 1}: invalid JSON: ${(err as Error).message}`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new CliError(`${file}:${i + 1}: each line holds one JSON object of process inputs, e.g. {"x": 1}`);
    }
    out.push(value as Record<string, unknown>);
  }
  return out;
}

export function runCommand(io: CliContext = defaultContext()): Command {
  return new Command("run")
    .description("run a graph file and print each epoch's return value")
    .argument("<file>", "graph file (.yaml, .yml or .json)")
    .option("-n, --epochs <n>", `epochs to run (default: one per line of --process-inputs, else ${DEFAULT_EPOCHS}; with --free-run: until --duration or Ctrl-C)`, parsePositiveInt("--epochs"))
    .option("-i, --input <key=value>", "a tube-scoped input; the value is parsed as JSON when it is valid JSON, else taken as a string (repeatable)", collectInput)
    .option("-p, --process-inputs <file.jsonl>", "process-scoped inputs: one JSON object per line, line i for epoch i")
    .addOption(new Option("-r, --runner <kind>", "where the nodes run: zmq, node runner processes over ZeroMQ; local, all in this process").choices(RUNNER_KINDS).default("zmq"))
    .option("--type-map <file|name=type>", 'maps node and asset type names to types, e.g. "noob.testing.*=./noob_testing.ts#*", or a YAML/JSON map file (repeatable)', collectList)
    .option("--tube-path <dir>", "a folder searched (recursively) for a tube: or extends: given as a noob_id, after the graph's own folder and before TUBULAR_TUBE_PATH (repeatable)", collectList)
    .option("--strict-inputs", "an input the graph does not declare is an error (default: a warning, as in noob)")
    .option("--json", "print one JSON line per epoch, {\"epoch\": i, \"value\": ...}, and nothing else on stdout")
    .option("-q, --quiet", "print no epoch values (only errors and, for --free-run, the summary)")
    .option("--free-run", "run epochs back to back without waiting for each (no process inputs); report epochs/s on stderr")
    .option("-d, --duration <seconds>", "with --free-run: stop after this many seconds", parsePositiveNumber("--duration"))
    .option("--max-in-flight <n>", "with --free-run: epochs in flight at once (backpressure window)", parsePositiveInt("--max-in-flight"))
    .addOption(new Option("--processes <mode>", "zmq: packed, nodes packed into about as many processes as cores (default); per-node, one process per node").choices(PROCESSES_MODES))
    .option("--listen <endpoint>", "several machines: the address host agents connect to, e.g. tcp://0.0.0.0:5555 (needs --keys)")
    .option("--keys <dir>", "several machines: the command node's key pair directory (tubular keygen --out DIR)")
    .option("--trust <dir>", "several machines: a directory of the host agents' public key files")
    .option("--advertise <host>", "several machines: the address the other machines reach this one at")
    .option("--dashboard [port]", "serve a live dashboard of this run on 127.0.0.1 (no key; a free port unless given) and print its URL on stderr", parseDashboardPort)
    .addOption(new Option("--log-level <level>", "log level of the runtime's logs on stderr").choices(LOG_LEVELS).default("warn"))
    .option("--track [project]", "track the run and its metrics in the store (project: the graph's id when not given); see tubular runs")
    .option("--run-name <name>", "with --track: the run's name (default: generated, like brave_pasta_123)")
    .option("--db <file|url>", "with --track: the store, a SQLite file or postgres://... (as tubular serve --db)", "tubular.db")
    .addHelpText(
      "after",
      `
Exit codes:
  0    every epoch ran
  1    a node failed: the epochs before it are printed, the node id, epoch and message go to stderr
  2    the graph, an input or the command line is wrong (the message names file: path: reason)
  130  interrupted

Examples:
  $ tubular run examples/basic.yaml
  $ tubular run examples/basic.yaml --epochs 3 --input factor=10 --json
  $ tubular run graph.yaml --process-inputs inputs.jsonl --json
  $ tubular run examples/basic.yaml --free-run --duration 2 --quiet
  $ tubular run examples/basic.yaml --free-run --quiet --dashboard 8780`,
    )
    .action(async (file: string, options: RunOptions) => {
      io.exitCode = await run(file, options, io);
    });
}

/** Runs the command; resolves with the exit code (errors are reported on stderr, not thrown). */
export async function run(file: string, options: RunOptions, io: CliContext = defaultContext()): Promise<number> {
  const verbose = options.logLevel === "debug" || options.logLevel === "trace";
  const logger = rootLogger(options.logLevel);
  let runner: Runner | undefined;
  let dashboard: Dashboard | undefined;
  let tracking: CliRunTracking | undefined;
  let outcome: "COMPLETED" | "CRASHED" | "FAILED" = "FAILED";
  let interrupted = false;
  let stopFreeRun: (() => void) | undefined;
  const onSigint = () => {
    if (interrupted) process.exit(ExitCode.INTERRUPTED);
    interrupted = true;
    stopFreeRun?.();
  };
  process.on("SIGINT", onSigint);
  try {
    if (options.freeRun && options.processInputs) {
      throw new CliError("--free-run takes no --process-inputs: free-run epochs get only the process inputs' defaults");
    }
    if (options.duration !== undefined && !options.freeRun) throw new CliError("--duration needs --free-run");
    const processInputs = options.processInputs ? await readProcessInputs(options.processInputs) : undefined;
    const tube = await loadTube(file, { ...(await loadOptionsFrom(options, io.stderr)), input: options.input ?? {} });
    logger.debug({ tube: tube.id, nodes: tube.nodes.size, runner: options.runner }, "graph loaded");
    runner = await createRunner(tube, {
      kind: options.runner,
      logger,
      ...(options.maxInFlight ? { maxInFlight: options.maxInFlight } : {}),
      ...(options.processes ? { processes: options.processes } : {}),
      ...(options.listen ? { listen: options.listen } : {}),
      ...(options.keys ? { keys: options.keys } : {}),
      ...(options.trust ? { trust: options.trust } : {}),
      ...(options.advertise ? { advertise: options.advertise } : {}),
    });
    if (options.track) {
      tracking = await CliRunTracking.open({ db: options.db ?? "tubular.db", project: options.track, name: options.runName, file, tubeId: tube.id });
      tracking.listen(runner);
      io.stderr.write(`tubular: tracking run ${tracking.run.name} in project ${tracking.project} (tubular runs show ${tracking.run.name})\n`);
    }
    if (options.dashboard !== undefined) {
      const watched = runner;
      dashboard = await startDashboard({
        runs: [{ id: "run", label: tube.id, kind: options.runner, tube, runner: watched }],
        port: options.dashboard === true ? 0 : options.dashboard,
        logger,
        // With --track, the dashboard plots this run's metrics (and the store's other tracked runs beside them).
        ...(tracking ? { tracking: tracking.store.tracking } : {}),
      });
      io.stderr.write(`dashboard: ${dashboard.url}\n`);
    }
    await runner.init();
    if (options.freeRun) {
      const code = await freeRun(runner, options, io, (stop) => (stopFreeRun = stop), tracking);
      outcome = interrupted ? "FAILED" : "COMPLETED";
      return code;
    }
    const epochs = options.epochs ?? processInputs?.length ?? DEFAULT_EPOCHS;
    const progress = new Progress({ total: epochs, stream: io.stderr });
    try {
      for (let i = 0; i < epochs; i++) {
        if (interrupted) return ExitCode.INTERRUPTED;
        let value: unknown;
        const asked = performance.now();
        try {
          value = await runner.process(processInputs?.[i]);
          tracking?.epoch(i, performance.now() - asked);
        } catch (err) {
          progress.clear();
          if ((err as { code?: string }).code === "TUBULAR_ERR_SOURCE_ENDED") {
            io.stderr.write(`source "${(err as { nodeId?: string }).nodeId}" ended: no more values after ${i} epoch(s)\n`);
            outcome = "COMPLETED";
            return ExitCode.OK;
          }
          if (err instanceof InputError) {
            const where = options.processInputs ? ` (${options.processInputs}, line ${i + 1} of the objects)` : "";
            throw new CliError(`epoch ${i}${where}: ${err.message}`);
          }
          throw err;
        }
        if (!options.quiet) {
          progress.clear();
          io.stdout.write(`${epochLine(i, value, options.json === true)}\n`);
        }
        progress.tick();
      }
    } finally {
      progress.clear();
    }
    outcome = "COMPLETED";
    return ExitCode.OK;
  } catch (err) {
    // A node's unhandled error crashes the run; anything else (bad input, interrupted) leaves it unfinished.
    outcome = /^TUBULAR_ERR_(NODE_FAILED|NODE_INIT|RUNNER_DIED)$/.test(String((err as { code?: string }).code)) ? "CRASHED" : "FAILED";
    return reportError(err, io.stderr, verbose);
  } finally {
    process.off("SIGINT", onSigint);
    // The runner goes first: metrics its runner processes still send arrive before their runners close.
    if (runner) {
      try {
        await runner.deinit();
      } catch (err) {
        reportError(err, io.stderr, verbose);
      }
    }
    if (tracking) {
      try {
        await tracking.finish(interrupted ? "FAILED" : outcome);
      } catch (err) {
        reportError(err, io.stderr, verbose);
      }
    }
    await dashboard?.close();
  }
}

/**
 * Free-run: epochs back to back, bounded by the runner's in-flight window.
 * Epochs are printed in order even when they complete out of order; a node
 * error prints the epochs before the failed one, then fails.
 */
async function freeRun(runner: Runner, options: RunOptions, io: CliContext, onStop: (stop: () => void) => void, tracking?: CliRunTracking): Promise<number> {
  const progress = new Progress({ ...(options.epochs !== undefined ? { total: options.epochs } : {}), stream: io.stderr });
  const pending = new Map<number, unknown>();
  // A fresh runner's epochs start at 0; they are printed in that order.
  let next = 0;
  const print = (epoch: number, value: unknown) => {
    if (!options.quiet) io.stdout.write(`${epochLine(epoch, value, options.json === true)}\n`);
  };
  const flush = (below = Infinity) => {
    while (pending.has(next) && next < below) {
      progress.clear();
      print(next, pending.get(next));
      pending.delete(next);
      next++;
    }
  };
  let firstError: Error | undefined;
  let last = performance.now();
  const onEpoch = (r: EpochResult) => {
    progress.tick();
    if (tracking) {
      const now = performance.now();
      tracking.epoch(r.epoch, now - last);
      last = now;
    }
    if (options.quiet) return;
    pending.set(r.epoch, r.value);
    flush();
  };
  const onError = (err: Error) => {
    firstError ??= err;
  };
  runner.on("epoch", onEpoch);
  runner.on("error", onError);
  let timer: NodeJS.Timeout | undefined;
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= runner.stop();
  };
  onStop(stop);
  const started = performance.now();
  try {
    const done = options.epochs !== undefined ? runner.run(options.epochs) : runner.run();
    if (options.duration !== undefined) timer = setTimeout(stop, options.duration * 1000);
    await done;
    await stopping;
    flush();
    if (runner.sourceEnded !== undefined) io.stderr.write(`source "${runner.sourceEnded}" ended: no more values\n`);
    return ExitCode.OK;
  } catch (err) {
    await stopping;
    const failed = (err as { epoch?: unknown }).epoch;
    flush(typeof failed === "number" ? failed : Infinity);
    throw firstError ?? err;
  } finally {
    if (timer) clearTimeout(timer);
    runner.off("epoch", onEpoch);
    runner.off("error", onError);
    progress.clear();
    const seconds = (performance.now() - started) / 1000;
    const n = progress.done;
    io.stderr.write(`${n} epochs in ${seconds.toFixed(2)} s (${formatRate(seconds > 0 ? n / seconds : 0)} epochs/s)\n`);
  }
}

