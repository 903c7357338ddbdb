/**
 * The job registry of `tubular serve`: opens the store, and gives the bridge
 * server the HTTP handler that serves the registry's API.
 */
import type { Logger } from "pino";
import { openStore } from "../../store/open.ts";
import type { Store } from "../../store/store.ts";
import type { BridgeOptions } from "../server.ts";
import { JobRegistry } from "./job-registry.ts";
import { RegistryRouter } from "./router.ts";

export { JobRegistry, DEFAULT_WORKER_TIMEOUT_MS, type JobRegistryOptions } from "./job-registry.ts";
export { RegistryRouter } from "./router.ts";
export { RegistryClient, type RegistryClientOptions } from "./client.ts";

export interface JobServerOptions {
  /** A SQLite file, or postgres://... ; default ./tubular.db */
  db?: string;
  graphsDir?: string | undefined;
  workerTimeoutMs?: number;
  maxBodyBytes?: number;
  /** PostgreSQL only: the schema the tables live in. */
  schema?: string;
  log: Logger;
}

export interface JobServer {
  store: Store;
  registry: JobRegistry;
  router: RegistryRouter;
  /** For BridgeOptions.httpHandler. */
  httpHandler: NonNullable<BridgeOptions["httpHandler"]>;
  close(): Promise<void>;
}

/** Opens the store and starts the registry's background work (worker sweeper, webhooks). */
export async function openJobServer(o: JobServerOptions): Promise<JobServer> {
  const store = await openStore(o.db ?? "tubular.db", o.schema ? { schema: o.schema } : {});
  const registry = new JobRegistry({ store, log: o.log, graphsDir: o.graphsDir, ...(o.workerTimeoutMs ? { workerTimeoutMs: o.workerTimeoutMs } : {}) });
  registry.start();
  const router = new RegistryRouter({ registry, log: o.log, ...(o.maxBodyBytes ? { maxBodyBytes: o.maxBodyBytes } : {}) });
  return {
    store,
    registry,
    router,
    httpHandler: (req, res, keys) => router.handle(req, res, keys),
    async close() {
      await registry.close();
      await store.close();
    },
  };
}
