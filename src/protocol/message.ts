/**
 * The whole message set: the discriminated union `Message` of every message
 * type, and the `MessageType` constants. Every message is
 * `{ type, node_id, timestamp, value }`; `node_id` is the sender's id.
 */
import { z } from "zod";
import {
  Announce,
  Deinit,
  EpochEnded,
  Heartbeat,
  Init,
  Ping,
  Process,
  Start,
  Stop,
} from "./command-to-runner.ts";
import { ErrorMsg, Identify, NodeMetricsMessage, Status } from "./runner-to-command.ts";
import { Event } from "./runner-to-runner.ts";
import { HostHello, HostStatus, Kill, RunnerExit, Spawn, StatusReport, StatusRequest } from "./command-to-host.ts";

export { NodeStatus, PROTOCOL_VERSION } from "./common.ts";

export const MessageType = {
  announce: "announce",
  identify: "identify",
  ping: "ping",
  status: "status",
  init: "init",
  process: "process",
  start: "start",
  stop: "stop",
  deinit: "deinit",
  event: "event",
  error: "error",
  epoch_ended: "epoch_ended",
  heartbeat: "heartbeat",
  host_hello: "host_hello",
  host_status: "host_status",
  runner_exit: "runner_exit",
  spawn: "spawn",
  kill: "kill",
  status_request: "status_request",
  status_report: "status_report",
  node_metrics: "node_metrics",
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** Schema of each message type, by type. */
export const MessageSchemas = {
  announce: Announce,
  identify: Identify,
  ping: Ping,
  status: Status,
  init: Init,
  process: Process,
  start: Start,
  stop: Stop,
  deinit: Deinit,
  event: Event,
  error: ErrorMsg,
  epoch_ended: EpochEnded,
  heartbeat: Heartbeat,
  host_hello: HostHello,
  host_status: HostStatus,
  runner_exit: RunnerExit,
  spawn: Spawn,
  kill: Kill,
  status_request: StatusRequest,
  status_report: StatusReport,
  node_metrics: NodeMetricsMessage,
} as const satisfies Record<MessageType, z.ZodType>;

export const Message = z.discriminatedUnion("type", [
  Announce,
  Identify,
  Ping,
  Status,
  Init,
  Process,
  Start,
  Stop,
  Deinit,
  Event,
  ErrorMsg,
  EpochEnded,
  Heartbeat,
  HostHello,
  HostStatus,
  RunnerExit,
  Spawn,
  Kill,
  StatusRequest,
  StatusReport,
  NodeMetricsMessage,
]);
export type Message =
  | Announce
  | Identify
  | Ping
  | Status
  | Init
  | Process
  | Start
  | Stop
  | Deinit
  | Event
  | ErrorMsg
  | EpochEnded
  | Heartbeat
  | HostHello
  | HostStatus
  | RunnerExit
  | Spawn
  | Kill
  | StatusRequest
  | StatusReport
  | NodeMetricsMessage;

/** The message of one type. */
export type MessageOf<T extends MessageType> = Extract<Message, { type: T }>;

/** Builds a message with the current time: `makeMessage("ping", "command", null)`. */
export function makeMessage<T extends MessageType>(type: T, nodeId: string, value: MessageOf<T>["value"], timestamp = Date.now()): MessageOf<T> {
  return { type, node_id: nodeId, timestamp, value } as MessageOf<T>;
}

export function isMessageType(t: unknown): t is MessageType {
  return typeof t === "string" && Object.prototype.hasOwnProperty.call(MessageType, t);
}
