/**
 * A host agent as a worker of the WebSocket worker registry (`tubular host
 * --registry ws://SERVER:PORT/agent --token T`), speaking the reference's
 * worker protocol (videosdk-agents' BackendConnection) frame for frame:
 * `register` (empty `worker_id` the first time, the id the server gave on
 * every reconnect), `availability_request` -> `availability_response`,
 * `job_assignment` -> the run's graph executed here (GraphRun, as the HTTP
 * worker does) -> `job_update` running / completed / failed, `job_termination`
 * stops a run, `status_update` with load = runs / max_processes, and `ping`.
 *
 * Reconnects as the reference does: a connection that ends is opened again
 * at once; a connect or register that fails is retried after 0, 2, 4, ...
 * 10 s, and after 16 failed tries in a row the agent stops with an error
 * naming the URL. Updates of runs made while the socket is down are queued
 * and sent, in order, after the next register, so a run that finishes during
 * an outage still reports (the server keeps its runs for a grace period).
 *
 * Our fields travel where the protocol has room for free text: metrics and
 * outputs in `participant_metadata` (JSON) of a `job_update`.
 */
import type { Logger } from "pino";
import WebSocket from "ws";
import { TubularError } from "../errors.ts";
import { GraphRun, type ClaimedRun } from "./graph-run.ts";
import { GraphThreads } from "./graph-thread.ts";

export interface AgentWorkerOptions {
  /** ws://SERVER:PORT/agent */
  url: string;
  /** One of the server's API keys, sent as `Authorization: Bearer` and in `register`. */
  token: string;
  /** The id to register with; default: none, the server gives one (kept for every reconnect). */
  workerId?: string;
  agentName?: string;
  /** Sent as the worker's capabilities; runs may ask for them as tags in their constraints. */
  tags?: string[];
  /** Runs at once (the protocol's max_processes); default 1. */
  maxRuns?: number;
  /** The load at which the registry stops offering runs; default 1 (offered while a slot is free). */
  loadThreshold?: number;
  runner?: "zmq" | "local";
  modulesDir?: string;
  /** Failed connects in a row before giving up (waiting 0, 2, 4, ... 10 s between them); default 16, as the reference. */
  maxRetry?: number;
  /** A connection silent this long (no pong, no frame) is dropped and opened again; default 15 s. */
  staleMs?: number;
  logger: Logger;
}

const PING_EVERY_MS = 5000;
const STATUS_EVERY_MS = 10_000;
/** An accepted availability request holds a slot this long while the assignment comes. */
const RESERVE_MS = 10_000;

type Frame = Record<string, unknown> & { type: string };

/** The worker message as the reference client sends it: fields that are None are left out. */
function dict(m: Record<string, unknown>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(m).filter(([, v]) => v !== null && v !== undefined)));
}

export class AgentWorker {
  private readonly log: Logger;
  private readonly runs = new Map<string, { run: GraphRun; done: Promise<void> }>();
  private readonly reserved = new Map<string, NodeJS.Timeout>();
  private readonly queue: string[] = [];
  private ws: WebSocket | undefined;
  private registered = false;
  private id: string;
  private closing = false;
  private loop: Promise<void> | undefined;
  /** The socket being opened, so close() can end a connect in progress. */
  private connecting: WebSocket | undefined;
  private wake: (() => void) | undefined;
  private firstRegister: { resolve: (id: string) => void; reject: (err: Error) => void } | undefined;
  /** Connections opened and registered; for tests and logs. */
  connections = 0;
  /** Where in-process runs run (`runner: "local"`): a thread per run slot. */
  private readonly threads: GraphThreads | undefined;

  constructor(private readonly o: AgentWorkerOptions) {
    this.log = o.logger.child({ component: "agent-worker" });
    this.threads = o.runner === "local" ? new GraphThreads() : undefined;
    this.id = o.workerId ?? "";
  }

  get workerId(): string {
    return this.id;
  }

  /** Runs in progress here. */
  get running(): number {
    return this.runs.size;
  }

  private get maxRuns(): number {
    return this.o.maxRuns ?? 1;
  }

  /**
   * Connects and registers (retrying as the reference does); resolves with the
   * worker id, or rejects with TUBULAR_ERR_AGENT_UNREACHABLE after all tries.
   * `stopped` then tells when the agent gives up later.
   */
  async start(): Promise<string> {
    await this.threads?.warm(this.maxRuns);
    const first = new Promise<string>((resolve, reject) => (this.firstRegister = { resolve, reject }));
    this.loop = this.connectionLoop();
    this.loop.catch((err: Error) => this.firstRegister?.reject(err));
    return first;
  }

  /** Resolves when the agent is closed; rejects when it gave up reconnecting. */
  get stopped(): Promise<void> {
    return this.loop ?? Promise.resolve();
  }

  /** Says offline, stops the runs in progress (the registry retries them by policy), closes the socket. */
  async close(): Promise<void> {
    this.closing = true;
    this.wake?.();
    this.connecting?.terminate();
    for (const t of this.reserved.values()) clearTimeout(t);
    await Promise.allSettled([...this.runs.values()].map((r) => r.run.cancel()));
    await Promise.race([Promise.allSettled([...this.runs.values()].map((r) => r.done)), new Promise((r) => setTimeout(r, 5000))]);
    await this.threads?.close();
    const ws = this.ws;
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(dict({ type: "status_update", worker_id: this.id, status: "offline", load: 0, job_count: 0 }));
      const closed = new Promise((r) => ws.once("close", r));
      ws.close();
      await Promise.race([closed, new Promise((r) => setTimeout(r, 2000))]);
      ws.terminate();
    }
    await this.loop?.catch(() => undefined);
  }

  private async connectionLoop(): Promise<void> {
    const maxTries = Math.max(1, this.o.maxRetry ?? 16);
    let tries = 0;
    let lastError: Error | undefined;
    while (!this.closing) {
      let ws: WebSocket;
      try {
        ws = await this.connect();
      } catch (err) {
        lastError = err as Error;
        if (this.closing) return;
        tries++;
        if (tries >= maxTries) {
          throw new TubularError("TUBULAR_ERR_AGENT_UNREACHABLE", `could not connect to the worker registry at ${this.o.url} after ${tries} tries: ${lastError.message}`, { url: this.o.url }, { cause: lastError });
        }
        const delayMs = Math.min((tries - 1) * 2, 10) * 1000;
        this.log.warn({ url: this.o.url, retryInMs: delayMs, tries, err: lastError.message }, "worker registry unreachable; retrying");
        await this.sleep(delayMs);
        continue;
      }
      if (this.closing) {
        ws.terminate();
        return;
      }
      tries = 0;
      this.connections++;
      await this.serve(ws);
      if (!this.closing) this.log.warn({ url: this.o.url, worker: this.id }, "connection to the worker registry lost; reconnecting");
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  /** Opens the socket and registers; rejects on a refused upgrade, a failed register, or a socket that ends first. */
  private connect(): Promise<WebSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.o.url, { headers: { Authorization: `Bearer ${this.o.token}` }, handshakeTimeout: 10_000 });
      this.connecting = ws;
      const fail = (err: Error) => {
        this.connecting = undefined;
        ws.removeAllListeners();
        ws.on("error", () => undefined);
        ws.terminate();
        reject(err);
      };
      const timer = setTimeout(() => fail(new Error("no register reply within 10 s")), 20_000);
      ws.once("unexpected-response", (_req, res) => {
        clearTimeout(timer);
        fail(new Error(`the server refused the upgrade: HTTP ${res.statusCode}`));
      });
      ws.once("error", (err) => {
        clearTimeout(timer);
        fail(err);
      });
      ws.once("close", () => {
        clearTimeout(timer);
        fail(new Error("the connection closed before register was answered"));
      });
      ws.once("open", () => {
        ws.send(
          dict({
            type: "register",
            worker_id: this.id,
            agent_name: this.o.agentName ?? "tubular-host",
            namespace: "default",
            version: "1.0.0",
            capabilities: this.o.tags ?? [],
            registry_uuid: "default",
            token: this.o.token,
            load_threshold: this.o.loadThreshold ?? 1,
            max_processes: this.maxRuns,
          }),
        );
      });
      ws.once("message", (data) => {
        clearTimeout(timer);
        let reply: Frame;
        try {
          reply = JSON.parse(data.toString()) as Frame;
        } catch {
          return fail(new Error("the register reply is not JSON"));
        }
        if (reply.type !== "register" || reply.success !== true) return fail(new Error(`register refused: ${String(reply.message ?? "unknown error")}`));
        ws.removeAllListeners();
        this.connecting = undefined;
        this.id = String(reply.worker_id);
        resolve(ws);
      });
    });
  }

  /** Works on one registered connection until it ends. */
  private serve(ws: WebSocket): Promise<void> {
    this.ws = ws;
    this.registered = true;
    this.log.info({ url: this.o.url, worker: this.id }, "registered with the worker registry");
    this.firstRegister?.resolve(this.id);
    this.firstRegister = undefined;
    // What was queued while the socket was down goes first, in order.
    for (const frame of this.queue.splice(0)) ws.send(frame);
    this.sendStatus();
    let lastHeard = Date.now();
    return new Promise((resolve) => {
      const ping = setInterval(() => {
        if (Date.now() - lastHeard > (this.o.staleMs ?? 15_000)) {
          this.log.warn({ worker: this.id }, "the worker registry went silent; dropping the connection");
          ws.terminate();
          return;
        }
        this.send({ type: "ping", worker_id: this.id, timestamp: Date.now() });
      }, PING_EVERY_MS);
      const status = setInterval(() => this.sendStatus(), STATUS_EVERY_MS);
      ws.on("message", (data) => {
        lastHeard = Date.now();
        let f: Frame;
        try {
          f = JSON.parse(data.toString()) as Frame;
        } catch {
          this.log.warn({ worker: this.id }, "a frame from the registry that is not JSON; dropped");
          return;
        }
        this.onFrame(f);
      });
      ws.on("error", (err) => this.log.warn({ err: err.message }, "worker registry socket error"));
      ws.once("close", () => {
        clearInterval(ping);
        clearInterval(status);
        this.registered = false;
        this.ws = undefined;
        resolve();
      });
    });
  }

  /** Sends now, or queues until the next register when the socket is down. */
  private send(m: Record<string, unknown>): void {
    const frame = dict(m);
    if (this.registered && this.ws?.readyState === WebSocket.OPEN) this.ws.send(frame);
    else if (m.type === "job_update") this.queue.push(frame);
  }

  private sendStatus(): void {
    const jobs = this.runs.size;
    this.send({ type: "status_update", worker_id: this.id, status: jobs === 0 ? "idle" : "busy", load: jobs / this.maxRuns, job_count: jobs });
  }

  private onFrame(f: Frame): void {
    switch (f.type) {
      case "availability_request":
        return this.onAvailability(String(f.job_id));
      case "job_assignment":
        return this.onAssignment(f);
      case "job_termination":
        return this.onTermination(String(f.job_id), f.reason === null ? null : String(f.reason));
      case "pong":
      case "register":
        return;
      default:
        this.log.info({ type: f.type }, "a registry message this worker does not use; ignored");
    }
  }

  private onAvailability(jobId: string): void {
    const available = !this.closing && this.runs.size + this.reserved.size < this.maxRuns;
    if (available) {
      const t = setTimeout(() => this.reserved.delete(jobId), RESERVE_MS);
      t.unref();
      this.reserved.set(jobId, t);
    }
    this.send({ type: "availability_response", worker_id: this.id, job_id: jobId, available });
  }

  private onAssignment(f: Frame): void {
    const jobId = String(f.job_id);
    clearTimeout(this.reserved.get(jobId));
    this.reserved.delete(jobId);
    const meta = (f.metadata ?? {}) as Record<string, unknown>;
    if (this.runs.has(jobId)) return;
    if (typeof meta.graph !== "object" || meta.graph === null) {
      this.send({ type: "job_update", worker_id: this.id, job_id: jobId, status: "failed", error: "the assignment's metadata has no graph" });
      return;
    }
    const op: ClaimedRun = { run_id: jobId, attempt: typeof meta.attempt === "number" ? meta.attempt : 1, graph: meta.graph as Record<string, unknown>, inputs: (meta.inputs ?? {}) as Record<string, unknown> };
    const run = new GraphRun(op, { runner: this.o.runner ?? "zmq", ...(this.o.modulesDir ? { modulesDir: this.o.modulesDir } : {}), ...(this.threads ? { threads: this.threads } : {}), logger: this.log });
    const update = (status: string, extra: Record<string, unknown> = {}) => {
      if (!run.cancelled) this.send({ type: "job_update", worker_id: this.id, job_id: jobId, status, ...extra });
    };
    const entry = { run, done: Promise.resolve() };
    this.runs.set(jobId, entry);
    this.sendStatus();
    this.log.info({ run: jobId, worker: this.id }, "run assigned");
    entry.done = run
      .execute({
        started: () => update("running"),
        progress: () => undefined,
        metrics: (batch) => update("running", { participant_metadata: JSON.stringify({ metrics: batch }) }),
        completed: (values) => update("completed", { participant_metadata: JSON.stringify({ outputs: { values } }) }),
        failed: (message) => update("failed", { error: message }),
      })
      .finally(() => {
        this.runs.delete(jobId);
        this.sendStatus();
      });
  }

  private onTermination(jobId: string, reason: string | null): void {
    const entry = this.runs.get(jobId);
    if (!entry) return;
    this.log.info({ run: jobId, reason }, "the registry ended this run; stopping it");
    void entry.run.cancel();
  }
}
