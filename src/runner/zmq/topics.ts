/**
 * PUB/SUB topics of the runtime. ZeroMQ filters by prefix, so every data
 * topic ends with a NUL: runner "a" then never receives runner "ab"'s events.
 * Probe topics start with NUL (src/transport/subscription-probe.ts), so the
 * two never meet.
 */
/** The command node's id: its messages' sender, and its name in probe topics. */
export const COMMAND_ID = "command";

/** Topic of the command node's broadcasts (start, stop, deinit, ...). */
export const COMMAND_TOPIC = "cmd\u0000";

/**
 * Topic of `process` messages: only runners with sources or process-scoped
 * inputs subscribe, so the others do not wake up for every epoch (measured in
 * bench/chain3-process-latency.bench.ts).
 */
export const PROCESS_TOPIC = "proc\u0000";

/** Topic of a runner's events with their values: what downstream runners read. */
export function eventTopic(runnerId: string): string {
  return `${runnerId}\u0000e`;
}

/**
 * Topic of the same messages without the values, only which nodes finished
 * which epochs: what the command node reads from runners whose values it
 * does not need, so a 1 MiB frame between two runners is not also copied to
 * the driver (bench/bytes-1mib.bench.ts). A runner publishes on a topic only
 * once someone has subscribed to it.
 */
export function doneTopic(runnerId: string): string {
  return `${runnerId}\u0000d`;
}

/**
 * A topic nothing is published on: a subscription to it tells a runner that
 * someone wants every event of its nodes (an `event` listener on the driver).
 * Without it a runner publishes only the events its readers need (those of
 * nodes read from another process, and of maps), see event-batch.ts.
 */
export function allValuesTopic(runnerId: string): string {
  return `${runnerId}\u0000a`;
}
