/**
 * A `tubular serve` in the test process, as the CLI composes it: the store,
 * the job registry, run tracking and the WebSocket worker registry over one
 * BridgeServer. Every test gets its own store (SQLite file or PostgreSQL schema).
 */
import pino from "pino";
import { openJobServer, type JobServer } from "../../src/bridge/registry/index.ts";
import { AgentRegistry, type AgentRegistryOptions } from "../../src/bridge/agents/index.ts";
import { BridgeServer } from "../../src/bridge/server.ts";
import { openTracking, type TrackingServer } from "../../src/bridge/tracking/index.ts";
import type { StoreTarget } from "./registry-stores.ts";

export const KEY = "test-key-0123456789";

export interface TestServer {
  base: string;
  port: number;
  jobs: JobServer;
  tracking: TrackingServer;
  agents: AgentRegistry;
  bridge: BridgeServer;
  close(): Promise<void>;
}

export async function startTestServer(target: StoreTarget, o: { workerTimeoutMs?: number; agents?: Partial<AgentRegistryOptions>; port?: number; graphsDir?: string } = {}): Promise<TestServer> {
  const log = pino({ level: process.env.TUBULAR_TEST_LOG ?? "silent" });
  const jobs = await openJobServer({ db: target.db, ...(target.schema ? { schema: target.schema } : {}), log, ...(o.workerTimeoutMs ? { workerTimeoutMs: o.workerTimeoutMs } : {}) });
  const tracking = await openTracking(jobs.store, log);
  jobs.registry.observe(tracking.jobs.observe);
  const agents = new AgentRegistry({ store: jobs.store, log, tracking: tracking.jobs, ...o.agents });
  agents.start();
  const bridge = new BridgeServer({
    logger: log,
    httpHandler: (req, res, keys) => agents.handleHttp(req, res, keys) || tracking.httpHandler(req, res, keys) || jobs.httpHandler(req, res, keys),
    upgradeHandler: (req, socket, head, keys) => agents.handleUpgrade(req, socket, head, keys),
    tracker: tracking.tracker,
    ...(o.graphsDir ? { graphsDir: o.graphsDir } : {}),
  });
  const { port } = await bridge.start({ port: o.port ?? 0, apiKeys: [KEY] });
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    jobs,
    tracking,
    agents,
    bridge,
    async close() {
      await agents.close();
      await bridge.close();
      await tracking.jobs.close();
      await jobs.close();
    },
  };
}
