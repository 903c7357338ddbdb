/** Bodies of the run tracking API, once, in zod. Unknown keys are ignored, as the reference backend does. */
import { z } from "zod";
import { TRACK_STATUSES } from "../../store/tracking-records.ts";

export const TrackStatusSchema = z.enum(TRACK_STATUSES);

export const CreateProjectBody = z.object({
  display_name: z.string().min(1),
  visibility: z.string().min(1).default("RESTRICTED"),
});

export const CreateRunBody = z.object({
  name: z.string().nullish(),
  description: z.string().nullish(),
  status: TrackStatusSchema.nullish(),
});

export const PatchRunBody = z.object({
  status: TrackStatusSchema.optional(),
  description: z.string().optional(),
});

export const MetricBody = z.object({
  name: z.string().min(1),
  value: z.json(),
  step: z.number().int().nonnegative().nullish(),
});

/** Metrics a host agent reports for a job run (in an INFO event's payload, or a job_update's participant_metadata). */
export const JobMetricsBody = z.object({
  metrics: z
    .array(
      z.object({
        name: z.string().min(1).max(200),
        value: z.json(),
        step: z.number().int().nonnegative(),
      }),
    )
    .max(100_000),
});
