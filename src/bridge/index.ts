/**
 * The bridge's public surface: the server, its start-up for `tubular serve`,
 * and the TypeScript client.
 */
import { TubularError } from "../errors.ts";
import { loadApiKeys } from "./auth.ts";
import { BridgeServer, type BridgeOptions } from "./server.ts";

export { BridgeServer, RPC_PATH, type BridgeLimits, type BridgeOptions } from "./server.ts";
export { TubularClient, type CallOptions, type Callable, type ClientOptions, type ClientStatus, type ConnectOptions, type MirroredGraph } from "./client.ts";
export { RpcCodes, RpcError } from "./jsonrpc.ts";
export { CallableError } from "./rpc-node.ts";

export interface StartBridgeOptions extends Omit<BridgeOptions, "apiKeys"> {
  /** A file of API keys, one a line (`#` comments allowed). */
  apiKeysFile?: string;
  /** Keys given directly; added to the file's and to TUBULAR_API_KEYS. */
  apiKeys?: string[];
  /** Comma-separated keys; default `process.env.TUBULAR_API_KEYS`. */
  apiKeysEnv?: string;
}

/**
 * Starts a bridge server as `tubular serve` does: keys from `apiKeysFile`,
 * `apiKeys` and `TUBULAR_API_KEYS` (comma-separated). Rejects with
 * TUBULAR_ERR_AUTH when there is no key at all, or when the key file cannot
 * be read, and with the listen error when the port is taken.
 *
 * @example
 * const { server, url } = await startBridge({ port: 8765, apiKeysFile: "keys.txt", graphsDir: "graphs" });
 * process.on("SIGINT", () => void server.close());
 */
export async function startBridge(options: StartBridgeOptions = {}): Promise<{ server: BridgeServer; port: number; host: string; url: string }> {
  const { apiKeysFile, apiKeys, apiKeysEnv, ...rest } = options;
  const keys = [
    ...(await loadApiKeys({ ...(apiKeysFile ? { file: apiKeysFile } : {}), ...(apiKeysEnv ?? process.env.TUBULAR_API_KEYS ? { env: apiKeysEnv ?? process.env.TUBULAR_API_KEYS } : {}) })),
    ...(apiKeys ?? []),
  ];
  if (keys.length === 0) throw new TubularError("TUBULAR_ERR_AUTH", "tubular serve needs at least one API key: --api-keys FILE or TUBULAR_API_KEYS");
  const server = new BridgeServer(rest);
  const started = await server.start({ apiKeys: keys });
  return { server, ...started };
}
