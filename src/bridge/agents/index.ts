/** The WebSocket worker registry of `tubular serve` (the VideoSDK agents protocol). */
export { AgentRegistry, AGENT_PATH, INIT_CONFIG_PATH, type AgentRegistryOptions } from "./agent-registry.ts";
export * from "./messages.ts";
