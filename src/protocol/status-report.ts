/**
 * What an operator (`tubular status`) asks a listening command node, and the
 * report it gets: the run's state, its hosts and each node's runner, host,
 * pid, status, restarts and epochs processed. The report is also what
 * `ZmqRunner.status()` returns.
 */
import { z } from "zod";
import { NodeStatusSchema, messageSchema } from "./common.ts";
import { Resources } from "./command-to-host.ts";
import { NodeFigures } from "./runner-to-command.ts";

export const NodeReport = z.object({
  /** The runner process holding the node ("command" for the driver's own nodes). */
  runner: z.string(),
  /** The host agent it runs on; "driver" for the command node's machine. */
  host: z.string(),
  pid: z.number().int().nullable(),
  status: z.union([NodeStatusSchema, z.literal("restarting"), z.literal("unknown")]),
  restarts: z.number().int().nonnegative(),
  /** Epochs the node finished. */
  epochs: z.number().int().nonnegative(),
  /** Resident memory of its runner process in bytes, as the host agent running it last reported; absent on the driver's machine (read there directly) and before the first report. */
  rss_bytes: z.number().int().nonnegative().nullable().optional(),
  /** Measured where the node runs (runs, errors, events per signal, process time p50/p99), with when this process had the report (Date.now()); absent before its first report. */
  metrics: NodeFigures.extend({ receivedAt: z.number() }).optional(),
});
export type NodeReport = z.infer<typeof NodeReport>;

export const HostReport = z.object({
  labels: z.array(z.string()),
  resources: Resources,
  pid: z.number().int(),
  /** Heard from within the host heartbeat timeout. */
  alive: z.boolean(),
  /** Runners of this run placed on it. */
  runners: z.number().int().nonnegative(),
});
export type HostReport = z.infer<typeof HostReport>;

export const RunStatus = z.object({
  state: z.enum(["created", "initializing", "ready", "running", "stopping", "closed", "failed"]),
  hosts: z.record(z.string(), HostReport),
  nodes: z.record(z.string(), NodeReport),
  epochsCompleted: z.number().int().nonnegative(),
});
export type RunStatus = z.infer<typeof RunStatus>;

/** An operator asks the command node for its status; the answer is a `status_report`. */
export const StatusRequest = messageSchema("status_request", z.null());
export type StatusRequest = z.infer<typeof StatusRequest>;

export const StatusReport = messageSchema("status_report", RunStatus);
export type StatusReport = z.infer<typeof StatusReport>;
