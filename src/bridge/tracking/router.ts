/**
 * The run tracking REST API under `/api/v0/`, as the reference client
 * (afnio.tellurio: run.init, Run.log, Run.finish, get/create/delete_project)
 * calls it: `Authorization: Api-Key <key>` (401 otherwise), paths with a
 * trailing slash, 201 on create, 204 on delete, JSON arrays for lists.
 */
import type http from "node:http";
import type { Logger } from "pino";
import type { z } from "zod";
import { keyFromHeader, type ApiKeys } from "../auth.ts";
import { CreateProjectBody, CreateRunBody, MetricBody, PatchRunBody } from "./schemas.ts";
import { TrackingError } from "./tracking-error.ts";
import type { Tracker } from "./tracker.ts";
import { metricView, projectView, runView, userOf, type TrackUser } from "./views.ts";
import { parseRequestTarget, PatternRoutes } from "../http-routes.ts";

export const TRACKING_PREFIX = "/api/v0/";
const MAX_BODY = 1024 * 1024;

interface Ctx {
  params: string[];
  user: TrackUser;
  body: () => Promise<unknown>;
}
type Handler = (c: Ctx) => Promise<[number, unknown]>;

function parse<T extends z.ZodType>(schema: T, data: unknown): z.infer<T> {
  const r = schema.safeParse(data);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw TrackingError.badRequest(`invalid body: ${i.path.join(".") || "(body)"}: ${i.message}`, i.path.join("."));
  }
  return r.data;
}

export class TrackingRouter {
  private readonly routes = new PatternRoutes<Handler>();
  /** Requests refused, by reason; for logs and tests. */
  readonly refused = { auth: 0, body: 0 };

  constructor(private readonly tracker: Tracker, private readonly log: Logger) {
    const add = (method: string, path: string, handler: Handler) => this.routes.add(method, path, handler);
    const t = tracker;
    const runIn = async (ns: string, slug: string, uuid: string) => {
      const p = await t.project(ns, slug);
      const r = await t.run(uuid);
      if (r.project_uuid !== p.uuid) throw TrackingError.notFound(`no run "${uuid}" in project "${slug}"`);
      return { p, r };
    };

    add("GET", "/api/v0/verify-api-key", async (c) => [200, { email: c.user.email, username: c.user.username, message: "API key is valid" }]);
    add("POST", "/api/v0/:ns/projects", async (c) => {
      const b = parse(CreateProjectBody, await c.body());
      return [201, projectView(await t.ensureProject(c.params[0]!, b.display_name, b.visibility))];
    });
    add("GET", "/api/v0/:ns/projects", async (c) => [200, (await t.store.listProjects(c.params[0]!)).map(projectView)]);
    add("GET", "/api/v0/:ns/projects/:slug", async (c) => [200, projectView(await t.project(c.params[0]!, c.params[1]!))]);
    add("DELETE", "/api/v0/:ns/projects/:slug", async (c) => {
      if (!(await t.store.deleteProject(c.params[0]!, c.params[1]!))) throw TrackingError.notFound(`no project "${c.params[1]}" in namespace "${c.params[0]}"`);
      return [204, null];
    });
    add("POST", "/api/v0/:ns/projects/:slug/runs", async (c) => {
      const b = parse(CreateRunBody, await c.body());
      const p = await t.project(c.params[0]!, c.params[1]!);
      return [201, runView(await t.createRun(p, { name: b.name ?? undefined, description: b.description ?? undefined, status: b.status ?? undefined }), p, c.user)];
    });
    add("GET", "/api/v0/:ns/projects/:slug/runs", async (c) => {
      const p = await t.project(c.params[0]!, c.params[1]!);
      return [200, (await t.store.listTrackedRuns({ projectUuid: p.uuid, limit: 1000 })).map((r) => runView(r, p, c.user))];
    });
    add("GET", "/api/v0/:ns/projects/:slug/runs/:uuid", async (c) => {
      const { p, r } = await runIn(c.params[0]!, c.params[1]!, c.params[2]!);
      return [200, runView(r, p, c.user)];
    });
    add("PATCH", "/api/v0/:ns/projects/:slug/runs/:uuid", async (c) => {
      const b = parse(PatchRunBody, await c.body());
      const { p, r } = await runIn(c.params[0]!, c.params[1]!, c.params[2]!);
      const out = b.status || b.description !== undefined ? await t.setStatus(r.uuid, b.status ?? r.status, b.description) : r;
      return [200, runView(out, p, c.user)];
    });
    add("POST", "/api/v0/:ns/projects/:slug/runs/:uuid/metrics", async (c) => {
      const b = parse(MetricBody, await c.body());
      const { r } = await runIn(c.params[0]!, c.params[1]!, c.params[2]!);
      await t.log(r.uuid, [{ name: b.name, value: b.value, step: b.step ?? undefined }]);
      const all = await t.metrics(r.uuid);
      return [201, metricView(all.filter((m) => m.name === b.name).at(-1)!)];
    });
    add("GET", "/api/v0/:ns/projects/:slug/runs/:uuid/metrics", async (c) => {
      const { r } = await runIn(c.params[0]!, c.params[1]!, c.params[2]!);
      return [200, (await t.metrics(r.uuid)).map(metricView)];
    });
  }

  /** Answers requests under /api/v0/; false for any other path. */
  handle(req: http.IncomingMessage, res: http.ServerResponse, keys: ApiKeys): boolean {
    const url = parseRequestTarget(req.url);
    if (!url) return false;
    if (!url.pathname.startsWith(TRACKING_PREFIX)) return false;
    void this.serve(req, res, url, keys);
    return true;
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse, url: URL, keys: ApiKeys): Promise<void> {
    const send = (status: number, body: unknown) => {
      if (res.headersSent) return;
      if (status === 204) return void res.writeHead(204).end();
      const text = JSON.stringify(body);
      res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) }).end(text);
    };
    const digest = keys.check(keyFromHeader(req.headers.authorization));
    if (!digest) {
      this.refused.auth++;
      req.resume();
      return send(401, { detail: "Invalid API key: send Authorization: Api-Key <key>", code: "TUBULAR_ERR_AUTH" });
    }
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      req.resume();
      return send(400, { detail: "the path is not valid percent-encoding", code: "TUBULAR_ERR_TRACKING_BAD_REQUEST" });
    }
    const route = this.routes.match(req.method, path);
    if (typeof route === "object") {
      try {
        const [status, body] = await route.handler({ params: route.params, user: userOf(digest), body: () => readJson(req) });
        return send(status, body);
      } catch (err) {
        if (err instanceof TrackingError) {
          if (err.status === 400) this.refused.body++;
          return send(err.status, { detail: err.message, code: err.code });
        }
        this.log.error({ err: (err as Error).message }, "tracking request failed");
        return send(500, { detail: "internal error", code: "TUBULAR_ERR_STORE" });
      }
    }
    req.resume();
    const known = route === "method";
    send(known ? 405 : 404, { detail: known ? `${req.method} is not allowed on ${path}` : `no such path: ${path}`, code: "TUBULAR_ERR_TRACKING_NOT_FOUND" });
  }
}

function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        req.removeAllListeners("data");
        req.resume();
        reject(TrackingError.badRequest(`the body is larger than ${MAX_BODY} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on("error", reject);
    req.on("end", () => {
      if (size > MAX_BODY) return;
      const text = Buffer.concat(chunks).toString("utf8").trim();
      if (text === "") return resolve({});
      try {
        resolve(JSON.parse(text));
      } catch (err) {
        reject(TrackingError.badRequest(`the body is not valid JSON: ${(err as Error).message}`));
      }
    });
  });
}
