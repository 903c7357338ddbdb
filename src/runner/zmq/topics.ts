/**
 * PUB/SUB topics of the runtime. ZeroMQ filters by prefix, so every data
 * topic ends with a NUL: runner "a" then never receives runner "ab"'s events.
 * Probe topics start with NUL (src/transport/subscription-probe.ts), so the
 * two never meet.
 */
/** Topic of the command node's broadcasts (start, stop, deinit, ...). */
export const COMMAND_TOPIC = "cmd\u0000";

/**
 * Topic of `process` messages: only runners with sources or process-scoped
 * inputs subscribe, so the others do not wake up for every epoch (measured in
 * bench/chain3-process-latency.bench.ts).
 */
export const PROCESS_TOPIC = "proc\u0000";

/** Topic a runner publishes its events on. */
export function eventTopic(runnerId: string): string {
  return `${runnerId}\u0000`;
}
