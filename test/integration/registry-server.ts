/**
 * A real `tubular serve` server in this process (the bridge's HTTP server with
 * the job registry on a real store), and requests as the reference client
 * sends them: JSON bodies, the key in X-API-Key.
 */
import path from "node:path";
import pino from "pino";
import { BridgeServer } from "../../src/bridge/server.ts";
import { openJobServer, type JobServer } from "../../src/bridge/registry/index.ts";
import { projectRoot } from "../helpers/acceptance.ts";
import type { StoreTarget } from "./registry-stores.ts";

export const KEY = "registry-test-key";
export const EXAMPLES = path.join(projectRoot, "examples");

export interface RunningServer {
  base: string;
  jobs: JobServer;
  bridge: BridgeServer;
  close(): Promise<void>;
}

export async function startServer(target: StoreTarget, opts: { workerTimeoutMs?: number; maxBodyBytes?: number } = {}): Promise<RunningServer> {
  const log = pino({ level: "silent" });
  const jobs = await openJobServer({ db: target.db, ...(target.schema ? { schema: target.schema } : {}), graphsDir: EXAMPLES, log, ...opts });
  const bridge = new BridgeServer({ apiKeys: [KEY], port: 0, httpHandler: jobs.httpHandler, logger: log });
  const { port } = await bridge.start();
  return {
    base: `http://127.0.0.1:${port}`,
    jobs,
    bridge,
    async close() {
      await bridge.close();
      await jobs.close();
    },
  };
}

export interface Reply {
  status: number;
  body: any;
}

/** One request, as httpx sends it: `json=` sets the body and Content-Type; `params=` the query. */
export async function call(base: string, method: string, p: string, json?: unknown, opts: { key?: string | null; params?: Record<string, string | number>; raw?: string } = {}): Promise<Reply> {
  const headers: Record<string, string> = {};
  const key = opts.key === undefined ? KEY : opts.key;
  if (key !== null) headers["X-API-Key"] = key;
  let body: string | undefined;
  if (opts.raw !== undefined) body = opts.raw;
  else if (json !== undefined) body = JSON.stringify(json);
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const q = opts.params ? `?${new URLSearchParams(Object.entries(opts.params).map(([k, v]) => [k, String(v)])).toString()}` : "";
  const res = await fetch(`${base}${p}${q}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

export const RESOURCES = { cpu_cores: 4, ram_mb: 8192, gpus: [] as Array<{ id: number; vram_mb: number; tags: string[] }> };
