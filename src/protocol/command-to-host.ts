/**
 * Messages between the command node and host agents (a host agent's DEALER
 * -> command inbox ROUTER, and back on the same connection). A host agent
 * joins from another machine, says what it has, and starts or stops the node
 * runner processes placed on it.
 */
import { z } from "zod";
import { NodeIdSchema, messageSchema } from "./common.ts";
import { SpawnConfig } from "./runner-config.ts";

export const RestartPolicySchema = z.enum(["never", "on-failure", "always"]);

export const Resources = z.object({
  cpus: z.number().int().nonnegative(),
  memory_total: z.number().nonnegative(),
  memory_free: z.number().nonnegative(),
  /** 1, 5 and 15 minute load averages. */
  load: z.array(z.number()),
  gpus: z.array(z.object({ model: z.string(), vram_mb: z.number().nullable() })),
});
export type Resources = z.infer<typeof Resources>;

export const RunnerReport = z.object({
  run_id: z.string(),
  runner_id: NodeIdSchema,
  pid: z.number().int().nullable(),
  state: z.enum(["starting", "running", "restarting", "exited"]),
  restarts: z.number().int().nonnegative(),
  /** Resident memory of the runner process in bytes, read by the agent on its machine; null when unreadable; absent from older agents. */
  rss_bytes: z.number().int().nonnegative().nullable().optional(),
});
export type RunnerReport = z.infer<typeof RunnerReport>;

/** A host agent joins (again, after a reconnect): its name, labels and resources. */
export const HostHello = messageSchema(
  "host_hello",
  z.object({ name: NodeIdSchema, labels: z.array(z.string()), resources: Resources, pid: z.number().int(), runners: z.array(RunnerReport) }),
);
export type HostHello = z.infer<typeof HostHello>;

/** Periodic: resources and the runners it supervises; doubles as the host's heartbeat. */
export const HostStatus = messageSchema("host_status", z.object({ resources: Resources, runners: z.array(RunnerReport) }));
export type HostStatus = z.infer<typeof HostStatus>;

/** One of the host's runners exited; `restarting` when the host starts it again. */
export const RunnerExit = messageSchema(
  "runner_exit",
  z.object({
    run_id: z.string(),
    runner_id: NodeIdSchema,
    pid: z.number().int().nullable(),
    code: z.number().int().nullable(),
    signal: z.string().nullable(),
    restarting: z.boolean(),
    restarts: z.number().int().nonnegative(),
  }),
);
export type RunnerExit = z.infer<typeof RunnerExit>;

/**
 * Start a runner process. `config` is the runner's configuration without key
 * material, with the run token (runner-config.ts; this travels over CURVE): the host adds its own key pair, and
 * resolves node types from its own library and module paths.
 */
export const Spawn = messageSchema(
  "spawn",
  z.object({
    run_id: z.string(),
    runner_id: NodeIdSchema,
    config: SpawnConfig,
    restart: RestartPolicySchema,
    max_restarts: z.number().int().nonnegative(),
  }),
);
export type Spawn = z.infer<typeof Spawn>;

/** Stop runners: one, or every runner of a run when `runner_id` is null. */
export const Kill = messageSchema("kill", z.object({ run_id: z.string(), runner_id: NodeIdSchema.nullable() }));
export type Kill = z.infer<typeof Kill>;

