/**
 * The job registry's HTTP API, at the bridge server's root, as the reference
 * client calls it: paths, methods, query parameters, bodies and statuses.
 * Plain node:http and zod (see docs/architecture.md, "The job registry").
 *
 * Order of checks: the API key (`X-API-Key`, or `Authorization: Api-Key|Bearer`)
 * -> 401; the route -> 404/405; the body (size -> 413, JSON -> 400, schema ->
 * 400 with the zod issue paths); then the operation (unknown things -> 404,
 * refused transitions and inputs -> 400).
 */
import type http from "node:http";
import type { Logger } from "pino";
import { z } from "zod";
import { formatPath } from "../../spec/load.ts";
import { RUN_STATES, type RunState } from "../../store/records.ts";
import { keyFromHeader, type ApiKeys } from "../auth.ts";
import type { JobRegistry } from "./job-registry.ts";
import { RegistryError, badRequest } from "./registry-error.ts";
import { AdHocRunBody, DefinitionBody, DefinitionRunBody, EventBody, HeartbeatBody, PatchRunBody } from "./schemas.ts";
import { attemptView, definitionView, eventView, opView, runView, workerView } from "./views.ts";
import { parseRequestTarget, PatternRoutes } from "../http-routes.ts";

export interface RouterOptions {
  registry: JobRegistry;
  log: Logger;
  /** Largest request body, bytes; default 1 MiB (413 beyond). */
  maxBodyBytes?: number;
}

interface Ctx {
  params: string[];
  query: URLSearchParams;
  body: () => Promise<unknown>;
}

type Handler = (ctx: Ctx) => Promise<[number, unknown]>;

class PayloadTooLarge extends Error {}

function parse<T extends z.ZodType>(schema: T, data: unknown): z.infer<T> {
  const r = schema.safeParse(data);
  if (!r.success) {
    const issues = r.error.issues.map((i) => ({ path: formatPath(i.path) || "(body)", message: i.message }));
    throw badRequest(`invalid body: ${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`, issues);
  }
  return r.data;
}

function intParam(q: URLSearchParams, name: string, min: number): number | undefined {
  const v = q.get(name);
  if (v === null || v === "") return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw badRequest(`query ${name}: a whole number >= ${min}, got "${v}"`, [{ path: name, message: `a whole number >= ${min}` }]);
  return n;
}

export class RegistryRouter {
  private readonly routes = new PatternRoutes<Handler>();
  private readonly maxBody: number;
  /** Requests refused, by reason; for logs and tests. */
  readonly refused = { auth: 0, body: 0, tooLarge: 0 };

  constructor(private readonly o: RouterOptions) {
    this.maxBody = o.maxBodyBytes ?? 1024 * 1024;
    const reg = o.registry;
    const timeout = reg.workerTimeoutMs;
    const add = (method: string, path: string, handler: Handler) => this.routes.add(method, path, handler);
    const fullRun = async (id: string, status = 200): Promise<[number, unknown]> => {
      const run = await reg.getRun(id);
      return [status, runView(run, await reg.store.listEvents(id), await reg.store.listAttempts(id))];
    };

    add("POST", "/definitions", async (c) => [201, definitionView(await reg.putDefinition(parse(DefinitionBody, await c.body())))]);
    add("GET", "/definitions", async () => [200, (await reg.store.listDefinitions()).map(definitionView)]);
    add("GET", "/definitions/:name", async (c) => [200, definitionView(await reg.getDefinition(c.params[0]!, c.query.get("version") ?? undefined))]);
    add("POST", "/definitions/:name/runs", async (c) => {
      const { run, events, attempts } = await reg.createFromDefinition(c.params[0]!, c.query.get("version") ?? undefined, parse(DefinitionRunBody, await c.body()));
      return [201, runView(run, events, attempts)];
    });
    add("POST", "/runs", async (c) => {
      // The run as created, with what its creation wrote: reading it back cost three queries per submission.
      const { run, events, attempts } = await reg.createAdHoc(parse(AdHocRunBody, await c.body()));
      return [201, runView(run, events, attempts)];
    });
    add("GET", "/runs", async (c) => {
      const states = (c.query.get("state") ?? "")
        .split(",")
        .map((s) => s.trim().toUpperCase())
        .filter(Boolean);
      for (const s of states) if (!RUN_STATES.includes(s as RunState)) throw badRequest(`query state: unknown state "${s}"`, [{ path: "state", message: `one of ${RUN_STATES.join(", ")}` }]);
      const runs = await reg.listRuns({ states: states as RunState[], limit: Math.min(intParam(c.query, "limit", 1) ?? 100, 1000), ...(c.query.get("worker_id") ? { workerId: c.query.get("worker_id")! } : {}) });
      return [200, runs.map((r) => runView(r))];
    });
    add("GET", "/runs/:id", async (c) => fullRun(c.params[0]!));
    add("PATCH", "/runs/:id", async (c) => {
      await reg.patchRun(c.params[0]!, parse(PatchRunBody, await c.body()));
      return fullRun(c.params[0]!);
    });
    add("POST", "/runs/:id/retry", async (c) => {
      await reg.retryRun(c.params[0]!);
      return fullRun(c.params[0]!);
    });
    add("POST", "/runs/:id/events", async (c) => {
      const { run, event } = await reg.addEvent(c.params[0]!, parse(EventBody, await c.body()));
      // The run, with the event this post stored (the whole list is GET /runs/{id}/events); read back
      // only for a repeated key, whose event was stored by an earlier post.
      const last = event ? [event] : await reg.store.listEvents(run.id, run.next_event_id - 2);
      return [200, runView(run, last)];
    });
    add("GET", "/runs/:id/events", async (c) => [200, { events: (await reg.events(c.params[0]!, intParam(c.query, "after", -1))).map(eventView) }]);
    add("GET", "/runs/:id/attempts", async (c) => [200, (await reg.attempts(c.params[0]!)).map(attemptView)]);
    add("GET", "/workers", async () => {
      const now = Date.now();
      return [200, (await reg.workers()).map((w) => workerView(w, timeout, now))];
    });
    add("POST", "/workers/heartbeat", async (c) => {
      const { worker, cancelled } = await reg.heartbeat(parse(HeartbeatBody, await c.body()));
      // `cancelled` (extra to the worker's shape): runs the worker reported that it should stop.
      return [200, { ...workerView(worker, timeout, Date.now()), cancelled }];
    });
    add("POST", "/workers/:id/claim", async (c) => [200, { ops: (await reg.claim(c.params[0]!, intParam(c.query, "limit", 1))).map(opView) }]);
  }

  /** Answers a request; false for the paths it leaves to others (`/health`). */
  handle(req: http.IncomingMessage, res: http.ServerResponse, keys: ApiKeys): boolean {
    const url = parseRequestTarget(req.url);
    if (!url) return false;
    if (url.pathname === "/health") return false;
    void this.serve(req, res, url, keys);
    return true;
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse, url: URL, keys: ApiKeys): Promise<void> {
    const send = (status: number, body: unknown) => {
      if (res.headersSent) return;
      const text = JSON.stringify(body);
      res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) }).end(text);
    };
    const header = req.headers["x-api-key"];
    const key = (Array.isArray(header) ? header[0] : header) ?? keyFromHeader(req.headers.authorization);
    if (!keys.check(key)) {
      this.refused.auth++;
      this.o.log.info({ remote: req.socket.remoteAddress, path: url.pathname }, key ? "unknown API key refused" : "request without API key refused");
      req.resume();
      return send(401, { detail: "a valid API key is required (X-API-Key header)", code: "TUBULAR_ERR_AUTH" });
    }
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      req.resume();
      return send(400, { detail: "the path is not valid percent-encoding", code: "TUBULAR_ERR_REGISTRY_BAD_REQUEST" });
    }
    const route = this.routes.match(req.method, path);
    if (typeof route === "object") {
      try {
        const [status, body] = await route.handler({ params: route.params, query: url.searchParams, body: () => this.readBody(req) });
        return send(status, body);
      } catch (err) {
        return this.fail(err, send, req);
      }
    }
    req.resume();
    if (route === "method") return send(405, { detail: `${req.method} is not allowed on ${path}` });
    send(404, { detail: `no such path: ${path}`, code: "TUBULAR_ERR_REGISTRY_NOT_FOUND" });
  }

  private fail(err: unknown, send: (s: number, b: unknown) => void, req: http.IncomingMessage): void {
    if (err instanceof RegistryError) {
      if (err.status === 400) this.refused.body++;
      return send(err.status, { detail: err.message, code: err.code, ...(err.issues.length ? { issues: err.issues } : {}) });
    }
    if (err instanceof PayloadTooLarge) {
      this.refused.tooLarge++;
      this.o.log.info({ limit: this.maxBody }, "request body too large; refused");
      send(413, { detail: `the body is larger than ${this.maxBody} bytes`, code: "TUBULAR_ERR_REGISTRY_BAD_REQUEST" });
      req.destroy();
      return;
    }
    this.o.log.error({ err: (err as Error).message, stack: (err as Error).stack }, "job registry request failed");
    send(500, { detail: "internal error", code: "TUBULAR_ERR_STORE" });
  }

  private readBody(req: http.IncomingMessage): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const declared = Number(req.headers["content-length"] ?? 0);
      if (declared > this.maxBody) return reject(new PayloadTooLarge());
      const chunks: Buffer[] = [];
      let size = 0;
      req.on("data", (c: Buffer) => {
        size += c.length;
        if (size > this.maxBody) {
          req.removeAllListeners("data");
          reject(new PayloadTooLarge());
          return;
        }
        chunks.push(c);
      });
      req.on("error", reject);
      req.on("end", () => {
        if (size > this.maxBody) return;
        const text = Buffer.concat(chunks).toString("utf8").trim();
        if (text === "") return resolve({});
        try {
          resolve(JSON.parse(text));
        } catch (err) {
          this.refused.body++;
          reject(badRequest(`the body is not valid JSON: ${(err as Error).message}`, [{ path: "(body)", message: "invalid JSON" }]));
        }
      });
    });
  }
}
