/**
 * A small TypeScript client of the job registry's HTTP API (the same calls
 * as the reference client), used by host agents, the CLI and the tests.
 * A refused request rejects with a TubularError carrying the HTTP `status`
 * and the server's `detail`; a server that does not answer rejects with
 * TUBULAR_ERR_REGISTRY_UNREACHABLE (status 0).
 */
import http from "node:http";
import https from "node:https";
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
  private readonly url: URL;
  /** The URL's path, for a server behind a prefix. */
  private readonly prefix: string;
  private readonly transport: typeof http | typeof https;
  /**
   * Connections kept open between requests: a host agent posts several
   * requests per run, and a new connection (or fetch's machinery) per
   * request cost more CPU than the request itself (docs/performance.md).
   */
  private readonly agent: http.Agent;

  constructor(private readonly o: RegistryClientOptions) {
    this.base = o.url.replace(/\/+$/, "");
    let url: URL | undefined;
    try {
      url = new URL(this.base);
    } catch {
      // refused below
    }
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:")) throw new RegistryRequestError(0, `the job registry URL ${o.url} is not http(s)://HOST:PORT`, "TUBULAR_ERR_REGISTRY_UNREACHABLE");
    this.url = url;
    this.prefix = this.url.pathname.replace(/\/+$/, "");
    this.transport = this.url.protocol === "https:" ? https : http;
    this.agent = new this.transport.Agent({ keepAlive: true, scheduling: "lifo" });
  }

  async request<T = unknown>(method: string, path: string, body?: unknown, query: Record<string, string | number | undefined> = {}): Promise<T> {
    const q = Object.entries(query).filter(([, v]) => v !== undefined);
    const target = `${this.prefix}${path}${q.length ? `?${new URLSearchParams(q.map(([k, v]) => [k, String(v)])).toString()}` : ""}`;
    const payload = body !== undefined ? Buffer.from(JSON.stringify(body)) : undefined;
    let res: { status: number; text: string };
    try {
      res = await this.send(method, target, payload, true);
    } catch (err) {
      throw new RegistryRequestError(0, `the job registry at ${this.base} did not answer: ${(err as Error).message}`, "TUBULAR_ERR_REGISTRY_UNREACHABLE");
    }
    let data: unknown;
    try {
      data = res.text ? JSON.parse(res.text) : null;
    } catch {
      data = { detail: res.text };
    }
    if (res.status < 200 || res.status >= 300) {
      const detail = (data as Json | null)?.detail ?? http.STATUS_CODES[res.status] ?? "";
      const code = res.status === 401 ? "TUBULAR_ERR_AUTH" : res.status === 404 ? "TUBULAR_ERR_REGISTRY_NOT_FOUND" : res.status === 400 || res.status === 413 ? "TUBULAR_ERR_REGISTRY_BAD_REQUEST" : "TUBULAR_ERR_REGISTRY_UNREACHABLE";
      throw new RegistryRequestError(res.status, `${method} ${path}: ${res.status} ${String(detail)}`, code);
    }
    return data as T;
  }

  /** Closes the kept-alive connections (the client stays usable: a later request opens a new one). */
  close(): void {
    this.agent.destroy();
  }

  /**
   * One request over a kept-alive connection. A connection the server closed
   * while it sat idle fails before any answer (ECONNRESET on a reused
   * socket): the request never reached the server, so it is sent once more
   * on a new connection.
   */
  private send(method: string, target: string, payload: Buffer | undefined, retryStale: boolean): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = this.transport.request(
        {
          agent: this.agent,
          hostname: this.url.hostname.replace(/^\[|\]$/g, ""),
          port: this.url.port || (this.url.protocol === "https:" ? 443 : 80),
          method,
          path: target,
          headers: { "X-API-Key": this.o.apiKey, ...(payload ? { "Content-Type": "application/json", "Content-Length": payload.length } : {}) },
          timeout: this.o.timeoutMs ?? 30_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", reject);
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
        },
      );
      req.on("timeout", () => req.destroy(new Error(`no answer within ${this.o.timeoutMs ?? 30_000} ms`)));
      req.on("error", (err: NodeJS.ErrnoException) => {
        if (retryStale && req.reusedSocket && err.code === "ECONNRESET") resolve(this.send(method, target, payload, false));
        else reject(err);
      });
      req.end(payload);
    });
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
