/**
 * A small TypeScript client of the job registry's HTTP API (the same calls
 * as the reference client), used by host agents, the CLI and the tests.
 * A refused request rejects with a TubularError carrying the HTTP `status`
 * and the server's `detail`; a server that does not answer rejects with
 * TUBULAR_ERR_REGISTRY_UNREACHABLE (status 0).
 */
import { TubularError } from "../../errors.ts";

export interface RegistryClientOptions {
  /** http://HOST:PORT */
  url: string;
  apiKey: string;
  /** Per request; default 30 s. */
  timeoutMs?: number;
}

export class RegistryRequestError extends TubularError {
  readonly status: number;
  constructor(status: number, message: string, code: "TUBULAR_ERR_REGISTRY_BAD_REQUEST" | "TUBULAR_ERR_REGISTRY_NOT_FOUND" | "TUBULAR_ERR_REGISTRY_UNREACHABLE" | "TUBULAR_ERR_AUTH") {
    super(code, message, { status });
    this.name = "RegistryRequestError";
    this.status = status;
  }
}

type Json = Record<string, unknown>;

export class RegistryClient {
  private readonly base: string;

  constructor(private readonly o: RegistryClientOptions) {
    this.base = o.url.replace(/\/+$/, "");
  }

  async request<T = unknown>(method: string, path: string, body?: unknown, query: Record<string, string | number | undefined> = {}): Promise<T> {
    const q = Object.entries(query).filter(([, v]) => v !== undefined);
    const url = `${this.base}${path}${q.length ? `?${new URLSearchParams(q.map(([k, v]) => [k, String(v)])).toString()}` : ""}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: { "X-API-Key": this.o.apiKey, ...(body !== undefined ? { "Content-Type": "application/json" } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.o.timeoutMs ?? 30_000),
      });
    } catch (err) {
      throw new RegistryRequestError(0, `the job registry at ${this.base} did not answer: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`, "TUBULAR_ERR_REGISTRY_UNREACHABLE");
    }
    const text = await res.text();
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = { detail: text };
    }
    if (!res.ok) {
      const detail = (data as Json | null)?.detail ?? res.statusText;
      const code = res.status === 401 ? "TUBULAR_ERR_AUTH" : res.status === 404 ? "TUBULAR_ERR_REGISTRY_NOT_FOUND" : res.status === 400 || res.status === 413 ? "TUBULAR_ERR_REGISTRY_BAD_REQUEST" : "TUBULAR_ERR_REGISTRY_UNREACHABLE";
      throw new RegistryRequestError(res.status, `${method} ${path}: ${res.status} ${String(detail)}`, code);
    }
    return data as T;
  }

  upsertDefinition(def: Json): Promise<Json> {
    return this.request("POST", "/definitions", def);
  }
  getDefinition(name: string, version?: string): Promise<Json> {
    return this.request("GET", `/definitions/${encodeURIComponent(name)}`, undefined, { version });
  }
  listDefinitions(): Promise<Json[]> {
    return this.request("GET", "/definitions");
  }
  createRun(body: Json): Promise<Json> {
    return this.request("POST", "/runs", body);
  }
  createRunFromDefinition(name: string, body: Json, version?: string): Promise<Json> {
    return this.request("POST", `/definitions/${encodeURIComponent(name)}/runs`, body, { version });
  }
  getRun(id: string): Promise<Json> {
    return this.request("GET", `/runs/${encodeURIComponent(id)}`);
  }
  listRuns(query: { state?: string; limit?: number; worker_id?: string } = {}): Promise<Json[]> {
    return this.request("GET", "/runs", undefined, query);
  }
  updateRun(id: string, patch: Json): Promise<Json> {
    return this.request("PATCH", `/runs/${encodeURIComponent(id)}`, patch);
  }
  retryRun(id: string): Promise<Json> {
    return this.request("POST", `/runs/${encodeURIComponent(id)}/retry`);
  }
  addEvent(id: string, event: Json): Promise<Json> {
    return this.request("POST", `/runs/${encodeURIComponent(id)}/events`, event);
  }
  pollEvents(id: string, after?: number): Promise<{ events: Json[] }> {
    return this.request("GET", `/runs/${encodeURIComponent(id)}/events`, undefined, { after });
  }
  attempts(id: string): Promise<Json[]> {
    return this.request("GET", `/runs/${encodeURIComponent(id)}/attempts`);
  }
  listWorkers(): Promise<Json[]> {
    return this.request("GET", "/workers");
  }
  heartbeat(body: Json): Promise<Json & { cancelled?: string[] }> {
    return this.request("POST", "/workers/heartbeat", body);
  }
  async claim(workerId: string, limit?: number): Promise<Json[]> {
    const r = await this.request<{ ops: Json[] }>("POST", `/workers/${encodeURIComponent(workerId)}/claim`, undefined, { limit });
    return r.ops;
  }
}
