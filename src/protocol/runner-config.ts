/**
 * What a node runner process is told when it is spawned: the tube to rebuild
 * (as its merged spec: the process resolves node types from its own modules),
 * its nodes, the placement of every other node, and where the command node is.
 * Written as JSON to the run directory; its path is the process's argument.
 * A host agent gets it in a `spawn` message as `SpawnConfig`: without key
 * material, which the host adds from its own.
 */
import { z } from "zod";

export const RunnerPlanSchema = z.object({
  id: z.string(),
  nodes: z.array(z.string()),
  upstream: z.array(z.string()),
});

export const RunnerProcessConfig = z.object({
  runId: z.string(),
  /**
   * The run's secret: a runner's identify carries it, and only an identify
   * with it binds a runner id to a connection (docs/architecture.md, trust).
   * Travels in this file (mode 0600) and in the spawn message (CURVE).
   */
  runToken: z.string().min(16),
  /** The merged graph spec, its file (for messages) and the folder modules resolve from. */
  spec: z.record(z.string(), z.unknown()),
  file: z.string(),
  baseDir: z.string(),
  input: z.record(z.string(), z.unknown()),
  runners: z.record(z.string(), RunnerPlanSchema),
  /** Command node endpoints: its inbox (SERVER) and outbox (PUB). */
  commandInbox: z.string(),
  commandOutbox: z.string(),
  /** Where the runner binds its outbox: an ipc directory, or a tcp host (port chosen by the OS). */
  outbox: z.union([z.object({ transport: z.literal("ipc"), dir: z.string() }), z.object({ transport: z.literal("tcp"), bind: z.string(), advertise: z.string() })]),
  logLevel: z.string(),
  heartbeatMs: z.number().positive(),
  /** A runner that has not heard from the command node this long exits by itself. */
  commandTimeoutMs: z.number().positive(),
  maxMessageBytes: z.number().int().positive(),
  /**
   * CurveZMQ, on tcp: this process's key pair (a host agent's own, or the
   * driver's for runners on its machine), the command node's public key, and
   * the public keys allowed to connect to this runner's outbox.
   */
  curve: z
    .object({ publicKey: z.string(), secretKey: z.string(), commandKey: z.string(), trusted: z.array(z.string()) })
    .optional(),
});
export type RunnerProcessConfig = z.infer<typeof RunnerProcessConfig>;

/**
 * The runner configuration a `spawn` carries to a host agent: no key pair
 * (the host uses its own), but the keys the runner must trust and the
 * command node's public key.
 */
export const SpawnConfig = RunnerProcessConfig.omit({ curve: true }).extend({
  curve_trusted: z.array(z.string()),
  command_key: z.string().nullable(),
});
export type SpawnConfig = z.infer<typeof SpawnConfig>;
