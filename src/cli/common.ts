/**
 * What every `tubular` command shares: exit codes, parsing of `k=v` inputs,
 * printing values and errors.
 */
import { InvalidArgumentError } from "commander";
import { InputError, NodeError, SpecError, TubularError } from "../errors.ts";

/** Exit codes of every command. */
export const ExitCode = {
  /** Done. */
  OK: 0,
  /** A node (or the runtime) failed while running. */
  FAILED: 1,
  /** The graph, an input or the command line is wrong: nothing ran, or it stopped before the bad epoch. */
  CONFIG: 2,
  /** Interrupted (Ctrl-C) before the requested epochs were done. */
  INTERRUPTED: 130,
} as const;

/** Where a command writes, and the exit code it leaves for main() to return. */
export interface CliContext {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WriteStream;
  exitCode: number;
}

export function defaultContext(): CliContext {
  return { stdout: process.stdout, stderr: process.stderr, exitCode: ExitCode.OK };
}

/** An error that ends a command with a given exit code and a message on stderr. */
export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number = ExitCode.CONFIG) {
    super(message);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}

/** Parses one `k=v`: the value as JSON when it is valid JSON, else the string as given. */
export function parseKeyValue(text: string): [string, unknown] {
  const eq = text.indexOf("=");
  if (eq <= 0) throw new InvalidArgumentError(`expected key=value, got "${text}"`);
  const key = text.slice(0, eq);
  const raw = text.slice(eq + 1);
  try {
    return [key, JSON.parse(raw)];
  } catch {
    return [key, raw];
  }
}

/** Commander collector for a repeatable `--input k=v`. */
export function collectInput(text: string, previous: Record<string, unknown> = {}): Record<string, unknown> {
  const [key, value] = parseKeyValue(text);
  return { ...previous, [key]: value };
}

export function parsePositiveInt(name: string): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a whole number >= 0, got "${text}"`);
    return n;
  };
}

export function parsePositiveNumber(name: string): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} must be a number > 0, got "${text}"`);
    return n;
  };
}

/** JSON for values a node may return that JSON.stringify mishandles (bigint, typed arrays, Map, Set). */
function replacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return Array.from(value as unknown as ArrayLike<number>);
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  return value;
}

export function toJson(value: unknown): string {
  return JSON.stringify(value === undefined ? null : value, replacer);
}

/** The line printed for one epoch: `{"epoch":i,"value":...}` with --json, else `epoch i: value`. */
export function epochLine(epoch: number, value: unknown, json: boolean): string {
  return json ? `{"epoch":${epoch},"value":${toJson(value)}}` : `epoch ${epoch}: ${toJson(value)}`;
}

/** Writes an error to stderr in the form its kind calls for; returns the exit code it means. */
export function reportError(err: unknown, stderr: NodeJS.WritableStream = process.stderr, verbose = false): number {
  if (err instanceof CliError) {
    stderr.write(`tubular: ${err.message}\n`);
    return err.exitCode;
  }
  if (err instanceof NodeError) {
    const epoch = err.epoch === undefined ? "" : ` at epoch ${JSON.stringify(err.epoch)}`;
    stderr.write(`tubular: node "${err.nodeId}" failed${epoch}: ${err.errorType}: ${err.errorMessage}\n`);
    if (verbose && err.remoteStack) stderr.write(`${err.remoteStack}\n`);
    return ExitCode.FAILED;
  }
  if (err instanceof SpecError) {
    stderr.write(`tubular: ${err.message}\n`);
    return ExitCode.CONFIG;
  }
  if (err instanceof InputError) {
    stderr.write(`tubular: ${err.message}\n`);
    return ExitCode.CONFIG;
  }
  if (err instanceof TubularError) {
    stderr.write(`tubular: ${err.code}: ${err.message}\n`);
    return ExitCode.FAILED;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  stderr.write(`tubular: ${verbose ? e.stack ?? e.message : e.message}\n`);
  return ExitCode.FAILED;
}

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
