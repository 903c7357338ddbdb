/**
 * The worker registry over WebSocket (`/agent`), the VideoSDK agents
 * protocol: workers keep a socket open, register, and are offered the job
 * registry's pending runs (availability_request -> availability_response ->
 * job_assignment), report job_update and status_update, and are sent
 * job_termination when a run they hold is cancelled. Runs are handed out
 * through the store's atomic claim, so a WebSocket worker and an HTTP worker
 * never get the same run.
 *
 * The pending queue is polled (every `pollMs`): the registry does not need a
 * hook into the job API, and a run made by another server sharing the
 * PostgreSQL store is offered too.
 */
import { randomUUID } from "node:crypto";
import type http from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import { WebSocketServer, type RawData, type WebSocket } from "ws";
import type { RunChange, RunRecord, WorkerRecord } from "../../store/records.ts";
import type { Store } from "../../store/store.ts";
import type { AgentWorkerRecord } from "../../store/tracking-records.ts";
import { keyFromHeader, type ApiKeys } from "../auth.ts";
import { fits } from "../registry/placement.ts";
import { applyEvent, assigned, lost } from "../registry/state-machine.ts";
import type { JobTracking } from "../tracking/job-tracking.ts";
import { OFFERABLE_STATUSES, toWorker, WorkerMessage, type ServerToWorker } from "./messages.ts";
import { parseRequestTarget } from "../http-routes.ts";

export const AGENT_PATH = "/agent";
export const INIT_CONFIG_PATH = "/v2/agent/init-config";

export interface AgentRegistryOptions {
  store: Store;
  log: Logger;
  /** When given, every run handed to a worker is tracked (project "jobs", or the definition's name). */
  tracking?: JobTracking | undefined;
  /** A worker that has not answered an availability request in this long is skipped; default 5 s. */
  availabilityTimeoutMs?: number;
  /** A worker whose socket dropped keeps its runs this long, waiting for it to come back; default 10 s. */
  graceMs?: number;
  /** How often the pending queue and held runs are looked at; default 200 ms. */
  pollMs?: number;
  /** How long a worker that said no is not asked again for the same run; default 2 s. */
  declineMs?: number;
  /** Largest frame accepted from a worker; default 1 MiB. */
  maxFrameBytes?: number;
}

interface Conn {
  ws: WebSocket;
  worker?: AgentWorkerRecord;
  /** job id -> resolves with the worker's answer */
  asks: Map<string, (available: boolean) => void>;
  /** Runs handed to this worker and not yet finished. */
  jobs: Set<string>;
}

const HEARTBEAT_EVERY_MS = 2000;
/** Resources a WebSocket worker is taken to have: it does not report them, so only its load limits it. */
const UNREPORTED = 2 ** 31;

export class AgentRegistry {
  private readonly o: Required<Omit<AgentRegistryOptions, "tracking">> & { tracking?: JobTracking | undefined };
  private readonly log: Logger;
  private readonly wss: WebSocketServer;
  private readonly conns = new Map<string, Conn>();
  private readonly offering = new Set<string>();
  private readonly declined = new Map<string, { workers: Set<string>; at: number }>();
  private readonly graceTimers = new Map<string, NodeJS.Timeout>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private lastHeartbeat = 0;
  private closed = false;
  /** Frames refused (not JSON, not a worker message); for logs and tests. */
  readonly refused = { frames: 0, auth: 0 };

  constructor(o: AgentRegistryOptions) {
    this.o = { availabilityTimeoutMs: 5000, graceMs: 10_000, pollMs: 200, declineMs: 2000, maxFrameBytes: 1024 * 1024, ...o };
    this.log = o.log.child({ component: "agents" });
    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.o.maxFrameBytes, perMessageDeflate: false });
  }

  start(): void {
    this.timer = setInterval(() => {
      this.ticking ??= this.tick()
        .catch((err: unknown) => this.log.error({ err: (err as Error).message }, "worker registry pass failed"))
        .finally(() => (this.ticking = undefined));
    }, this.o.pollMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    for (const t of this.graceTimers.values()) clearTimeout(t);
    this.graceTimers.clear();
    for (const c of this.conns.values()) c.ws.terminate();
    this.conns.clear();
    await this.ticking;
    this.wss.close();
  }

  /** Connected, registered workers. */
  get connected(): AgentWorkerRecord[] {
    return [...this.conns.values()].flatMap((c) => (c.worker ? [c.worker] : []));
  }

  /** `/agent` upgrades: Bearer token (an API key of the server) or 401. False for other paths. */
  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, keys: ApiKeys): boolean {
    const url = parseRequestTarget(req.url);
    if (!url) return false;
    if (url.pathname !== AGENT_PATH && url.pathname !== `${AGENT_PATH}/`) return false;
    if (this.closed) {
      // Shutting down: a worker that reconnects at once is turned away, so the server's close is not held open by it.
      socket.end("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
      return true;
    }
    if (!keys.check(keyFromHeader(req.headers.authorization))) {
      this.refused.auth++;
      const body = JSON.stringify({ error: "a valid token is required: Authorization: Bearer <token>" });
      socket.end(`HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      return true;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws));
    return true;
  }

  /** `POST /v2/agent/init-config`: where the registry is. False for other paths. */
  handleHttp(req: http.IncomingMessage, res: http.ServerResponse, keys: ApiKeys): boolean {
    const url = parseRequestTarget(req.url);
    if (!url) return false;
    if (url.pathname !== INIT_CONFIG_PATH && url.pathname !== `${INIT_CONFIG_PATH}/`) return false;
    req.resume();
    const send = (status: number, body: unknown) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) }).end(text);
    };
    if (req.method !== "POST") send(405, { success: false, message: "POST only" });
    else if (!keys.check(keyFromHeader(req.headers.authorization))) send(401, { success: false, message: "a valid token is required: Authorization: Bearer <token>" });
    else send(200, { success: true, data: { registryUrl: `ws://${req.headers.host ?? "127.0.0.1"}${AGENT_PATH}` } });
    return true;
  }

  private accept(ws: WebSocket): void {
    const conn: Conn = { ws, asks: new Map(), jobs: new Set() };
    // Frames are handled one at a time, in order, so a job_update never overtakes the one before it.
    let chain = Promise.resolve();
    ws.on("message", (data: RawData, isBinary: boolean) => {
      chain = chain.then(() => this.onFrame(conn, data, isBinary)).catch((err: unknown) => this.log.error({ err: (err as Error).message }, "worker frame failed"));
    });
    ws.on("close", () => void chain.then(() => this.onClose(conn)));
    ws.on("error", () => undefined);
  }

  private send(conn: Conn, msg: ServerToWorker): void {
    if (conn.ws.readyState === conn.ws.OPEN) conn.ws.send(toWorker(msg));
  }

  private async onFrame(conn: Conn, data: RawData, isBinary: boolean): Promise<void> {
    let parsed: unknown;
    try {
      parsed = isBinary ? undefined : JSON.parse(data.toString());
    } catch {
      parsed = undefined;
    }
    const r = WorkerMessage.safeParse(parsed);
    if (!r.success) {
      this.refused.frames++;
      this.log.warn({ worker: conn.worker?.worker_id, code: "TUBULAR_ERR_AGENT_PROTOCOL" }, "frame from a worker that is not a worker message; dropped");
      return;
    }
    const m = r.data;
    if (m.type === "register") return this.register(conn, m);
    if (m.type === "ping") return this.send(conn, { type: "pong", timestamp: m.timestamp ?? Date.now() });
    if (!conn.worker) {
      this.log.warn({ type: m.type }, "message from a worker that has not registered; dropped");
      return;
    }
    switch (m.type) {
      case "availability_response":
        if (m.job_id) conn.asks.get(m.job_id)?.(m.available === true);
        return;
      case "status_update":
        return this.statusUpdate(conn, m);
      case "job_update":
        return this.jobUpdate(conn, m);
      default:
        this.log.info({ type: m.type, worker: conn.worker.worker_id }, "worker message of a type this registry does not use; ignored");
    }
  }

  private async register(conn: Conn, m: WorkerMessage): Promise<void> {
    const refuse = (message: string) => this.send(conn, { type: "register", success: false, message });
    const threshold = m.load_threshold ?? 0.75;
    const maxProcesses = m.max_processes ?? 10;
    if (!(threshold > 0 && threshold <= 1)) return refuse(`load_threshold must be in (0, 1], got ${threshold}`);
    if (!(maxProcesses >= 1)) return refuse(`max_processes must be at least 1, got ${maxProcesses}`);
    const id = m.worker_id && m.worker_id.trim() !== "" ? m.worker_id : randomUUID();
    const other = this.conns.get(id);
    if (other && other !== conn && other.ws.readyState === other.ws.OPEN) return refuse(`worker id ${id} is already connected`);
    const now = Date.now();
    const known = await this.o.store.tracking.getAgentWorker(id);
    const rec: AgentWorkerRecord = {
      worker_id: id,
      agent_name: m.agent_name ?? known?.agent_name ?? "",
      namespace: m.namespace ?? "default",
      version: m.version ?? "",
      capabilities: m.capabilities ?? [],
      status: "idle",
      load: 0,
      job_count: 0,
      load_threshold: threshold,
      max_processes: maxProcesses,
      connected: true,
      registered_at: known?.registered_at ?? now,
      updated_at: now,
    };
    clearTimeout(this.graceTimers.get(id));
    this.graceTimers.delete(id);
    // A worker coming back keeps the runs it still holds.
    if (other && other !== conn) for (const j of other.jobs) conn.jobs.add(j);
    if (!other || other === conn) for (const run of await this.o.store.listRuns({ workerId: id, states: ["ASSIGNED", "RUNNING"] })) conn.jobs.add(run.id);
    conn.worker = await this.o.store.tracking.putAgentWorker(rec);
    this.conns.set(id, conn);
    await this.o.store.putWorker(this.workerRecord(rec, now));
    this.send(conn, { type: "register", success: true, worker_id: id, payload: { agent_name: rec.agent_name, namespace: rec.namespace, load_threshold: threshold, max_processes: maxProcesses, reconnected: known !== undefined } });
    this.log.info({ worker: id, agent: rec.agent_name, reconnected: known !== undefined }, "worker registered");
  }

  private workerRecord(w: AgentWorkerRecord, now: number, status: "online" | "offline" = "online"): WorkerRecord {
    return {
      worker_id: w.worker_id,
      resources: { cpu_cores: UNREPORTED, ram_mb: UNREPORTED, gpus: [] },
      tags: w.capabilities,
      running_ops: [],
      status,
      last_heartbeat: now,
      protocol: "websocket",
    };
  }

  private async statusUpdate(conn: Conn, m: WorkerMessage): Promise<void> {
    const w = conn.worker!;
    const jobCount = m.job_count ?? w.job_count;
    const status = m.status ?? w.status;
    const load = m.load ?? m.current_load ?? jobCount / w.max_processes;
    conn.worker = await this.o.store.tracking.putAgentWorker({ ...w, status, load, job_count: jobCount, updated_at: Date.now() });
  }

  /** The worker's load as the registry counts it: what it reported, or what it holds, whichever is higher. */
  load(conn: Conn): number {
    const w = conn.worker!;
    return Math.max(w.load, conn.jobs.size / w.max_processes);
  }

  private offerable(conn: Conn): boolean {
    const w = conn.worker;
    return w !== undefined && conn.ws.readyState === conn.ws.OPEN && OFFERABLE_STATUSES.has(w.status) && this.load(conn) < w.load_threshold;
  }

  private async jobUpdate(conn: Conn, m: WorkerMessage): Promise<void> {
    const id = m.job_id;
    const status = (m.status ?? "").toLowerCase();
    if (!id) return;
    const workerId = conn.worker!.worker_id;
    let outputs: Record<string, unknown> | undefined;
    let metrics: Record<string, unknown> | undefined;
    if (m.participant_metadata) {
      try {
        const meta = JSON.parse(m.participant_metadata) as { outputs?: unknown; metrics?: unknown };
        if (meta && typeof meta.outputs === "object" && meta.outputs !== null) outputs = meta.outputs as Record<string, unknown>;
        // Host agents report metrics here (a running update); the tracked run gets them.
        if (meta && "metrics" in meta) metrics = { metrics: meta.metrics };
      } catch {
        // Not ours: participant metadata is free text in the reference protocol.
      }
    }
    const change = (run: RunRecord): RunChange => {
      if (run.worker_id !== workerId) throw new Error(`run ${id} is not held by worker ${workerId}`);
      const now = Date.now();
      const started = run.state === "ASSIGNED" && status !== "failed" && status !== "cancelled" ? applyEvent(run, { type: "STARTED", msg: `started on ${workerId}` }, now) : undefined;
      const from = started?.run ?? run;
      let next: RunChange | undefined;
      if (status === "completed") next = applyEvent(from, { type: "COMPLETED", msg: "completed", payload: outputs ? { outputs } : null }, now);
      else if (status === "failed") next = applyEvent(from, { type: "FAILED", msg: m.error ?? "failed", payload: { error_message: m.error ?? "failed" } }, now);
      else if (status === "cancelled") next = applyEvent(from, { type: "CANCELLED", msg: m.error ?? "cancelled by the worker" }, now);
      if (!started && !next) return { run, events: [] };
      if (!started) return next!;
      if (!next) return started;
      return { run: next.run, events: [...started.events, ...next.events], attempts: [...(started.attempts ?? []), ...(next.attempts ?? [])] };
    };
    let run: RunRecord | undefined;
    try {
      run = await this.o.store.updateRun(id, change);
    } catch (err) {
      this.log.warn({ worker: workerId, job: id, status, err: (err as Error).message }, "job_update refused");
      return;
    }
    if (!run) return;
    if (["COMPLETED", "FAILED", "CANCELLED"].includes(run.state)) conn.jobs.delete(id);
    this.o.tracking?.observe(run, metrics ? { type: "metrics", payload: metrics } : undefined);
  }

  private onClose(conn: Conn): void {
    const w = conn.worker;
    if (!w || this.conns.get(w.worker_id) !== conn) return;
    for (const resolve of conn.asks.values()) resolve(false);
    if (this.closed) return;
    void this.o.store.tracking.putAgentWorker({ ...w, status: "offline", connected: false, updated_at: Date.now() }).catch(() => undefined);
    this.log.warn({ worker: w.worker_id, runs: conn.jobs.size }, "worker disconnected; its runs wait for it for the grace period");
    const timer = setTimeout(() => {
      this.graceTimers.delete(w.worker_id);
      if (this.conns.get(w.worker_id) !== conn) return;
      this.conns.delete(w.worker_id);
      void this.loseRuns(w.worker_id);
    }, this.o.graceMs);
    timer.unref();
    this.graceTimers.set(w.worker_id, timer);
  }

  /** The worker did not come back: its runs fail ("worker lost") and are retried by their policy. */
  private async loseRuns(workerId: string): Promise<void> {
    const now = Date.now();
    const held = await this.o.store.listRuns({ workerId, states: ["ASSIGNED", "RUNNING"] });
    for (const r of held) {
      await this.o.store
        .updateRun(r.id, (run) => {
          if (run.worker_id !== workerId || !["ASSIGNED", "RUNNING"].includes(run.state)) return { run, events: [] };
          return lost(run, now);
        })
        .catch((err: unknown) => this.log.error({ run: r.id, err: (err as Error).message }, "could not release a lost worker's run"));
    }
    const w = await this.o.store.getWorker(workerId);
    if (w) await this.o.store.putWorker({ ...w, status: "offline" });
    if (held.length) this.log.warn({ worker: workerId, runs: held.map((r) => r.id) }, "worker lost: its runs are retried by policy");
  }

  /** One pass: keep connected workers alive in the store, end cancelled runs, offer pending ones. */
  private async tick(): Promise<void> {
    if (this.closed) return;
    const now = Date.now();
    const live = [...this.conns.values()].filter((c) => c.worker && c.ws.readyState === c.ws.OPEN);
    if (now - this.lastHeartbeat >= HEARTBEAT_EVERY_MS) {
      this.lastHeartbeat = now;
      for (const c of live) await this.o.store.putWorker(this.workerRecord(c.worker!, now));
    }
    for (const c of live) await this.checkHeld(c);
    const candidates = live.filter((c) => this.offerable(c));
    if (candidates.length === 0) return;
    const pending = (await this.o.store.listRuns({ states: ["PENDING"], limit: 200 })).sort((a, b) => b.priority - a.priority || a.created_at - b.created_at);
    const busy = new Set<Conn>();
    for (const run of pending) {
      if (this.offering.has(run.id)) continue;
      let d = this.declined.get(run.id);
      if (d && now - d.at > this.o.declineMs) {
        this.declined.delete(run.id);
        d = undefined;
      }
      const pick = candidates
        .filter((c) => !busy.has(c) && c.asks.size === 0 && !d?.workers.has(c.worker!.worker_id) && this.offerable(c) && fits(this.workerRecord(c.worker!, now), [], run.constraints))
        .sort((a, b) => this.load(a) - this.load(b))[0];
      if (!pick) continue;
      busy.add(pick);
      this.offering.add(run.id);
      void this.offer(pick, run).finally(() => this.offering.delete(run.id));
    }
  }

  /** Sends job_termination for runs the worker holds that were cancelled or taken from it. */
  private async checkHeld(c: Conn): Promise<void> {
    for (const id of [...c.jobs]) {
      const run = await this.o.store.getRun(id);
      if (run && run.worker_id === c.worker!.worker_id && (run.state === "ASSIGNED" || run.state === "RUNNING")) continue;
      c.jobs.delete(id);
      if (run) await this.o.tracking?.settle(run);
      if (run?.state === "COMPLETED") continue;
      this.send(c, { type: "job_termination", job_id: id, reason: run ? (run.state === "CANCELLED" ? "cancelled" : `run is ${run.state}`) : "run deleted" });
    }
  }

  private async offer(c: Conn, run: RunRecord): Promise<void> {
    const w = c.worker!;
    const answer = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), this.o.availabilityTimeoutMs);
      c.asks.set(run.id, (yes) => {
        clearTimeout(timer);
        resolve(yes);
      });
    });
    this.send(c, { type: "availability_request", job_id: run.id, room_id: run.id, agent_name: w.agent_name });
    const yes = await answer;
    c.asks.delete(run.id);
    if (!yes) {
      const d = this.declined.get(run.id) ?? { workers: new Set<string>(), at: Date.now() };
      d.workers.add(w.worker_id);
      this.declined.set(run.id, d);
      return;
    }
    const now = Date.now();
    const got = await this.o.store.claim(w.worker_id, now, (worker, held, pending) => Array.from(pending).filter((p) => p.id === run.id && p.state === "PENDING" && fits(worker, held, p.constraints)).map((p) => assigned(p, worker.worker_id, now)));
    const claimed = got?.find((r) => r.id === run.id);
    if (!claimed) return; // taken by another worker meanwhile
    this.declined.delete(run.id);
    c.jobs.add(claimed.id);
    const track = this.o.tracking ? await this.o.tracking.begin(claimed, w.worker_id) : undefined;
    this.send(c, {
      type: "job_assignment",
      job_id: claimed.id,
      room_id: claimed.id,
      agent_name: w.agent_name,
      token: "",
      url: "",
      room_options: null,
      metadata: { run_id: claimed.id, attempt: claimed.attempt, graph: claimed.graph, inputs: claimed.inputs, image: claimed.image, definition: claimed.definition, ...(track ? { track } : {}) },
    });
    this.log.info({ worker: w.worker_id, run: claimed.id }, "run assigned over WebSocket");
  }
}
