/**
 * ZmqRunner's options, validated once (in the constructor) with errors that
 * name the option: `new ZmqRunner(tube, { maxInFlight: 0 })` throws instead of
 * hanging at the first free-run.
 */
import { z } from "zod";
import { TubularError } from "../../errors.ts";
import { PROCESSES_MODES } from "./packing.ts";

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

export const ZmqRunnerOptionsSchema = z.strictObject({
  transport: z.enum(["ipc", "tcp"]).default("ipc"),
  host: z.string().min(1).default("127.0.0.1"),
  maxInFlight: z.number().int().min(1).default(512),
  initTimeoutMs: z.number().positive().default(20_000),
  deinitTimeoutMs: z.number().nonnegative().default(3_000),
  heartbeatMs: z.number().int().min(10).default(250),
  commandTimeoutMs: z.number().positive().default(3_000),
  logLevel: z.enum(LOG_LEVELS).optional(),
  output: z.custom<NodeJS.WritableStream>((v) => typeof v === "object" && v !== null && typeof (v as { write?: unknown }).write === "function", "expected a writable stream").optional(),
  maxMessageBytes: z.number().int().positive().max(2 ** 31 - 1).optional(),
  listen: z.string().regex(/^tcp:\/\/(\[[^\]]+\]|[^:]+):\d+$/, "expected tcp://HOST:PORT").optional(),
  advertise: z.string().min(1).optional(),
  keys: z.object({ publicKey: z.string().length(40), secretKey: z.string().length(40) }).optional(),
  trust: z.custom<Iterable<string>>((v) => v !== null && typeof v === "object" && Symbol.iterator in (v as object), "expected an iterable of z85 keys").optional(),
  /** How nodes without `group` or `isolate` are put into processes: "packed" (default; see packing.ts) or "per-node", one process each (noob's way). */
  processes: z.enum(PROCESSES_MODES).default("packed"),
  /** Processes the packed nodes of one placement class fill. Default: this machine's cores minus one (the driver), at least 1. */
  processesPerHost: z.number().int().min(1).optional(),
});

export type ZmqRunnerOptions = z.input<typeof ZmqRunnerOptionsSchema>;
export type ResolvedZmqRunnerOptions = z.output<typeof ZmqRunnerOptionsSchema>;

/** The options with defaults; throws TUBULAR_ERR_RUNNER_OPTIONS naming the first bad option. */
export function parseZmqRunnerOptions(options: unknown): ResolvedZmqRunnerOptions {
  const parsed = ZmqRunnerOptionsSchema.safeParse(options ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const option = issue.path.join(".") || (issue.code === "unrecognized_keys" ? issue.keys.join(", ") : "(options)");
  throw new TubularError("TUBULAR_ERR_RUNNER_OPTIONS", `ZmqRunner option ${option}: ${issue.message}`, { option });
}
