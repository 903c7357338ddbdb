/** The protocol layer: message schemas and types, the codec and its drop counts. */
export * from "./common.ts";
export * from "./command-to-runner.ts";
export { Identify, Status, StatusValue, ErrorMsg, ErrorValue } from "./runner-to-command.ts";
export * from "./runner-to-runner.ts";
export * from "./node-error.ts";
export {
  MESSAGES,
  MessageType,
  MessageSchemas,
  makeMessage,
  isMessageType,
  travels,
  travelsIn,
  type Message,
  type MessageOf,
  type MessageIn,
  type Direction,
  type CommandToRunner,
  type RunnerToCommand,
  type RunnerToRunner,
  type CommandToHost,
  type HostToCommand,
  type OperatorToCommand,
  type CommandToOperator,
} from "./message.ts";
export * from "./status-report.ts";
export * from "./runner-config.ts";
export * from "./drops.ts";
export * from "./codec.ts";
export * from "./command-to-host.ts";
