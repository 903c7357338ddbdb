/** The protocol layer: message schemas and types, the codec and its drop counts. */
export * from "./common.ts";
export * from "./command-to-runner.ts";
export { Identify, Status, StatusValue, ErrorMsg, ErrorValue, type RunnerToCommand } from "./runner-to-command.ts";
export * from "./runner-to-runner.ts";
export * from "./node-error.ts";
export { Message, MessageType, MessageSchemas, makeMessage, isMessageType, type MessageOf } from "./message.ts";
export * from "./drops.ts";
export * from "./codec.ts";
export * from "./command-to-host.ts";
