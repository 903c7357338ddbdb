/**
 * The whole message set, declared once: `MESSAGES` maps each message type to
 * its schema and the directions it travels in. The `Message` union, the
 * per-direction unions, `MessageType`, and the codec's checks all come from
 * it. Every message is `{ type, node_id, timestamp, value }`; `node_id` is the
 * sender's id.
 */
import type { z } from "zod";
import { Announce, Deinit, Enable, EpochEnded, Heartbeat, Init, Ping, Process, Start, Stop } from "./command-to-runner.ts";
import { ErrorMsg, Identify, Metrics, NodeMetricsMessage, Status } from "./runner-to-command.ts";
import { Event } from "./runner-to-runner.ts";
import { HostHello, HostStatus, Kill, RunnerExit, Spawn } from "./command-to-host.ts";
import { StatusReport, StatusRequest } from "./status-report.ts";

export { NodeStatus, PROTOCOL_VERSION } from "./common.ts";

/**
 * Who talks to whom. Command: the driver's command node; runner: a node
 * runner process; host: a host agent; operator: `tubular status`.
 */
export type Direction = "commandToRunner" | "runnerToCommand" | "runnerToRunner" | "commandToHost" | "hostToCommand" | "operatorToCommand" | "commandToOperator";

interface Entry {
  readonly schema: z.ZodType;
  readonly directions: readonly Direction[];
}

/** Every message type: its schema and the directions it may travel in. */
export const MESSAGES = {
  announce: { schema: Announce, directions: ["commandToRunner"] },
  ping: { schema: Ping, directions: ["commandToRunner"] },
  init: { schema: Init, directions: ["commandToRunner"] },
  process: { schema: Process, directions: ["commandToRunner"] },
  start: { schema: Start, directions: ["commandToRunner"] },
  stop: { schema: Stop, directions: ["commandToRunner"] },
  deinit: { schema: Deinit, directions: ["commandToRunner"] },
  epoch_ended: { schema: EpochEnded, directions: ["commandToRunner"] },
  enable: { schema: Enable, directions: ["commandToRunner"] },
  heartbeat: { schema: Heartbeat, directions: ["commandToRunner", "runnerToCommand", "commandToHost"] },
  identify: { schema: Identify, directions: ["runnerToCommand"] },
  status: { schema: Status, directions: ["runnerToCommand"] },
  error: { schema: ErrorMsg, directions: ["runnerToCommand"] },
  metrics: { schema: Metrics, directions: ["runnerToCommand"] },
  node_metrics: { schema: NodeMetricsMessage, directions: ["runnerToCommand"] },
  event: { schema: Event, directions: ["runnerToRunner"] },
  spawn: { schema: Spawn, directions: ["commandToHost"] },
  kill: { schema: Kill, directions: ["commandToHost"] },
  host_hello: { schema: HostHello, directions: ["hostToCommand"] },
  host_status: { schema: HostStatus, directions: ["hostToCommand"] },
  runner_exit: { schema: RunnerExit, directions: ["hostToCommand"] },
  status_request: { schema: StatusRequest, directions: ["operatorToCommand"] },
  status_report: { schema: StatusReport, directions: ["commandToOperator"] },
} as const satisfies Record<string, Entry>;

type Table = typeof MESSAGES;
export type MessageType = keyof Table;

/** The message of one type. */
export type MessageOf<T extends MessageType> = z.infer<Table[T]["schema"]>;

export type Message = { [T in MessageType]: MessageOf<T> }[MessageType];

/** The messages that may travel in direction `D`. */
export type MessageIn<D extends Direction> = { [T in MessageType]: D extends Table[T]["directions"][number] ? MessageOf<T> : never }[MessageType];

export type CommandToRunner = MessageIn<"commandToRunner">;
export type RunnerToCommand = MessageIn<"runnerToCommand">;
export type RunnerToRunner = MessageIn<"runnerToRunner">;
export type CommandToHost = MessageIn<"commandToHost">;
export type HostToCommand = MessageIn<"hostToCommand">;
export type OperatorToCommand = MessageIn<"operatorToCommand">;
export type CommandToOperator = MessageIn<"commandToOperator">;

/** The message type names as constants: `MessageType.event === "event"`. */
export const MessageType = Object.freeze(Object.fromEntries(Object.keys(MESSAGES).map((t) => [t, t]))) as { readonly [T in MessageType]: T };

/** Schema of each message type, by type. */
export const MessageSchemas = Object.freeze(Object.fromEntries(Object.entries(MESSAGES).map(([t, e]) => [t, e.schema]))) as { readonly [T in MessageType]: Table[T]["schema"] };

/** Builds a message with the current time: `makeMessage("ping", "command", null)`. */
export function makeMessage<T extends MessageType>(type: T, nodeId: string, value: MessageOf<T>["value"], timestamp = Date.now()): MessageOf<T> {
  return { type, node_id: nodeId, timestamp, value } as MessageOf<T>;
}

export function isMessageType(t: unknown): t is MessageType {
  return typeof t === "string" && Object.prototype.hasOwnProperty.call(MESSAGES, t);
}

/** Whether a message of type `t` may travel in direction `d`. */
export function travels(t: MessageType, d: Direction): boolean {
  return (MESSAGES[t].directions as readonly Direction[]).includes(d);
}

/** Whether a message may travel in one of `directions`: a receiver's check of what arrives on its socket. */
export function travelsIn<D extends Direction>(msg: Message, directions: readonly D[]): msg is MessageIn<D> {
  const allowed = MESSAGES[msg.type].directions as readonly Direction[];
  return directions.some((d) => allowed.includes(d));
}
