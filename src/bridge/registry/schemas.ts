/**
 * The job registry's request bodies, once, in zod (snake_case as the
 * reference client sends them). Unknown keys are ignored rather than refused:
 * the client serialises its own objects, which may carry more than we use.
 */
import { z } from "zod";
import { RUN_STATES } from "../../store/records.ts";

const Tag = z.string().min(1).max(100);

export const ConstraintsBody = z
  .object({
    cpu: z.number().min(0).nullish(),
    ram_mb: z.number().min(0).nullish(),
    vram_mb: z.number().min(0).nullish(),
    tags: z.array(Tag).max(50).nullish(),
  })
  .nullish();

export const RetryPolicyBody = z.object({ max_attempts: z.number().int().min(1).max(100).nullish() }).nullish();

export const EventDeliveryBody = z
  .object({ webhook: z.url({ protocol: /^https?$/ }).nullish() })
  .loose()
  .nullish();

const InputDeclBody = z.object({
  type: z.string().optional(),
  required: z.boolean().optional(),
  default: z.unknown().optional(),
  description: z.string().optional(),
});

export const GraphBody = z.record(z.string(), z.unknown());

export const DefinitionBody = z.object({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, "a name is letters, digits, '.', '_' or '-' (at most 128)"),
  version: z.union([z.string().min(1).max(64), z.number()]).transform(String).optional(),
  description: z.string().max(10_000).nullish(),
  image: z.string().max(1000).nullish(),
  graph: GraphBody.nullish(),
  inputs: z.record(z.string(), InputDeclBody).nullish(),
  constraints: ConstraintsBody,
  retry_policy: RetryPolicyBody,
  event_delivery: EventDeliveryBody,
  priority: z.number().int().nullish(),
});
export type DefinitionBody = z.infer<typeof DefinitionBody>;

export const RunInputs = z.record(z.string(), z.unknown());

export const DefinitionRunBody = z.object({
  inputs: RunInputs.nullish(),
  priority: z.number().int().nullish(),
  event_delivery: EventDeliveryBody,
});

export const AdHocRunBody = z.object({
  image: z.string().max(1000).nullish(),
  graph: GraphBody.nullish(),
  inputs: RunInputs.nullish(),
  priority: z.number().int().nullish(),
  constraints: ConstraintsBody,
  retry_policy: RetryPolicyBody,
  event_delivery: EventDeliveryBody,
});

export const PatchRunBody = z.object({
  state: z.enum(RUN_STATES).nullish(),
  outputs: z.record(z.string(), z.unknown()).nullish(),
  priority: z.number().int().nullish(),
});

export const EventBody = z.object({
  type: z.string().min(1).max(64),
  msg: z.union([z.string().max(100_000), z.number()]),
  payload: z.record(z.string(), z.unknown()).nullish(),
  /** tubular's own workers: the attempt the event belongs to; an event of an older attempt is refused. */
  attempt: z.number().int().min(1).optional(),
  /** tubular's own workers: a key unique to the event, so a resend after a lost answer is not stored twice. */
  key: z.string().min(1).max(200).optional(),
});

export const HeartbeatBody = z.object({
  worker_id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:@-]{0,199}$/, "a worker id is letters, digits, '.', '_', ':', '@' or '-'"),
  resources: z.object({
    cpu_cores: z.number().min(0),
    ram_mb: z.number().min(0),
    gpus: z.array(z.object({ id: z.union([z.number(), z.string()]), vram_mb: z.number().min(0).nullish(), tags: z.array(Tag).nullish() })).default([]),
  }),
  tags: z.array(Tag).max(50).nullish(),
  running_ops: z.array(z.record(z.string(), z.unknown())).max(10_000).nullish(),
});
