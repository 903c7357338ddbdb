/**
 * A host agent as a worker of the job registry (`tubular host --registry
 * http://SERVER:PORT`). It heartbeats this machine's resources and the runs
 * it runs, claims runs while it has free slots (`--max-runs`), runs each
 * graph here (ZeroMQ runner by default), and reports STARTED, PROGRESS as
 * epochs complete, then COMPLETED with each epoch's return value or FAILED
 * with the node's error (with the run's last metrics in their payload). A run the server reports cancelled (or given to
 * another worker) is stopped.
 *
 * Events go through a per-run outbox: sent in order, each with a key unique
 * to the run's attempt, retried with back-off while the server does not
 * answer, so a run keeps going through an outage and no event is stored
 * twice when an answer was lost.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Logger } from "pino";
import { RegistryClient, RegistryRequestError } from "../bridge/registry/client.ts";
import { GraphRun, type ClaimedRun, type RunMetric } from "./graph-run.ts";
import { GraphThreads } from "./graph-thread.ts";
import { readGpus } from "./resources.ts";

export interface RegistryWorkerOptions {
  /** http://SERVER:PORT */
  url: string;
  apiKey: string;
  /** Default: this machine's name plus a suffix kept in `stateDir`. */
  workerId?: string;
  /** Where the default worker id is kept across restarts; default ~/.tubular/host-agent. */
  stateDir?: string;
  tags?: string[];
  /** Runs at once; default 1. */
  maxRuns?: number;
  /** Where graphs run: "zmq" (node runner processes, default) or "local" (in this process). */
  runner?: "zmq" | "local";
  /** Folder relative module node types resolve from; default the working directory. */
  modulesDir?: string;
  heartbeatMs?: number;
  pollMs?: number;
  logger: Logger;
}

type Op = ClaimedRun;

interface Active {
  run: GraphRun;
  done: Promise<void>;
}

const MAX_BACKOFF_MS = 10_000;

/** Resolves the worker id: given, or kept in stateDir (host name plus a random suffix, made once). */
export async function workerIdentity(given: string | undefined, stateDir: string): Promise<string> {
  if (given) return given;
  const file = path.join(stateDir, "worker-id");
  try {
    const id = (await readFile(file, "utf8")).trim();
    if (id) return id;
  } catch {
    // first start: made below
  }
  const id = `${os.hostname().replace(/[^A-Za-z0-9._-]/g, "-")}-${randomBytes(3).toString("hex")}`;
  await mkdir(stateDir, { recursive: true });
  await writeFile(file, `${id}\n`);
  return id;
}

/** One run's events, in order, each sent until the server takes or refuses it. */
class EventOutbox {
  private readonly queue: Array<Record<string, unknown>> = [];
  private seq = 0;
  private sending: Promise<void> | undefined;
  private closed = false;
  /** The server refused an event (e.g. the run was cancelled): nothing more is sent. */
  refused = false;

  constructor(private readonly client: RegistryClient, private readonly op: Op, private readonly log: Logger) {}

  push(type: string, msg: string | number, payload?: Record<string, unknown>): void {
    if (this.refused) return;
    this.queue.push({ type, msg, ...(payload ? { payload } : {}), attempt: this.op.attempt, key: String(this.seq++) });
    this.sending ??= this.drain().finally(() => (this.sending = undefined));
  }

  /** Resolves once every event was sent or refused (or the agent closes). */
  async flushed(): Promise<void> {
    while (this.sending) await this.sending;
  }

  close(): void {
    this.closed = true;
  }

  private async drain(): Promise<void> {
    let backoff = 250;
    while (this.queue.length > 0 && !this.closed) {
      const e = this.queue[0]!;
      try {
        await this.client.addEvent(this.op.run_id, e);
        this.queue.shift();
        backoff = 250;
      } catch (err) {
        const status = err instanceof RegistryRequestError ? err.status : 0;
        if (status === 400 || status === 404 || status === 401) {
          this.log.warn({ run: this.op.run_id, event: e.type, err: (err as Error).message }, "the registry refused an event; this run reports nothing more");
          this.refused = true;
          this.queue.length = 0;
          return;
        }
        this.log.info({ run: this.op.run_id, retryInMs: backoff, err: (err as Error).message }, "registry unreachable; the event is kept and retried");
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
      }
    }
  }
}

export class RegistryWorker {
  private readonly client: RegistryClient;
  private readonly log: Logger;
  private readonly active = new Map<string, Active>();
  private readonly outboxes = new Set<EventOutbox>();
  private id = "";
  private gpus: Array<{ id: number; vram_mb: number; tags: string[] }> = [];
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private claiming = false;
  private closed = false;
  private claimBackoffUntil = 0;
  private claimBackoff = 0;
  /** Where in-process runs run (`runner: "local"`): a thread per run slot. */
  private readonly threads: GraphThreads | undefined;

  constructor(private readonly o: RegistryWorkerOptions) {
    this.threads = o.runner === "local" ? new GraphThreads() : undefined;
    this.client = new RegistryClient({ url: o.url, apiKey: o.apiKey, timeoutMs: 10_000 });
    this.log = o.logger.child({ component: "registry-worker" });
  }

  get workerId(): string {
    return this.id;
  }

  /** Runs in progress here. */
  get running(): number {
    return this.active.size;
  }

  /** Registers with the registry (retrying while it is unreachable is the caller's choice: this rejects) and starts working. */
  async start(): Promise<string> {
    this.id = await workerIdentity(this.o.workerId, this.o.stateDir ?? path.join(os.homedir(), ".tubular", "host-agent"));
    this.gpus = (await readGpus()).map((g, i) => ({ id: i, vram_mb: g.vram_mb ?? 0, tags: g.model ? [g.model] : [] }));
    await this.threads?.warm(this.o.maxRuns ?? 1);
    await this.heartbeat(true);
    this.heartbeatTimer = setInterval(() => void this.heartbeat(false), this.o.heartbeatMs ?? 2000);
    this.pollTimer = setInterval(() => void this.claim(), this.o.pollMs ?? 500);
    void this.claim();
    this.log.info({ worker: this.id, registry: this.o.url }, "registry worker started");
    return this.id;
  }

  /** Stops claiming, stops the runs in progress (they are retried by the server's policy), sends what is queued (bounded). */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.heartbeatTimer);
    clearInterval(this.pollTimer);
    await Promise.allSettled([...this.active.values()].map((a) => a.run.cancel()));
    await Promise.race([Promise.allSettled([...this.active.values()].map((a) => a.done)), new Promise((r) => setTimeout(r, 5000))]);
    await this.threads?.close();
    for (const o of this.outboxes) o.close();
    this.client.close();
  }

  private resources(): Record<string, unknown> {
    return { cpu_cores: os.availableParallelism?.() ?? os.cpus().length, ram_mb: Math.floor(os.totalmem() / 1024 / 1024), gpus: this.gpus };
  }

  private async heartbeat(first: boolean): Promise<void> {
    try {
      const reply = await this.client.heartbeat({
        worker_id: this.id,
        resources: this.resources(),
        tags: this.o.tags ?? [],
        running_ops: [...this.active.values()].map((a) => ({ run_id: a.run.op.run_id, attempt: a.run.op.attempt })),
      });
      for (const id of reply.cancelled ?? []) {
        const a = this.active.get(id);
        if (a && !a.run.cancelled) {
          this.log.info({ run: id }, "the registry no longer gives this run to this worker (cancelled or reassigned); stopping it");
          void a.run.cancel();
        }
      }
    } catch (err) {
      if (first) throw err;
      this.log.warn({ err: (err as Error).message }, "heartbeat failed; runs go on");
    }
  }

  private async claim(): Promise<void> {
    const free = (this.o.maxRuns ?? 1) - this.active.size;
    if (this.closed || this.claiming || free <= 0 || Date.now() < this.claimBackoffUntil) return;
    this.claiming = true;
    try {
      const ops = (await this.client.claim(this.id, free)) as unknown as Op[];
      this.claimBackoff = 0;
      for (const op of ops) this.begin(op);
      // More may be waiting: ask again right away while slots are free.
      if (ops.length > 0 && ops.length === free) setImmediate(() => void this.claim());
    } catch (err) {
      this.claimBackoff = Math.min(MAX_BACKOFF_MS, this.claimBackoff ? this.claimBackoff * 2 : 250);
      this.claimBackoffUntil = Date.now() + this.claimBackoff;
      this.log.warn({ err: (err as Error).message, retryInMs: this.claimBackoff }, "claim failed");
    } finally {
      this.claiming = false;
    }
  }

  private begin(op: Op): void {
    const a: Active = { run: new GraphRun(op, { runner: this.o.runner ?? "zmq", ...(this.o.modulesDir ? { modulesDir: this.o.modulesDir } : {}), ...(this.threads ? { threads: this.threads } : {}), logger: this.log }), done: Promise.resolve() };
    this.active.set(op.run_id, a);
    a.done = this.execute(a).finally(() => {
      this.active.delete(op.run_id);
      if (!this.closed) void this.claim();
    });
  }

  /** Runs the claimed graph; its reports become the run's events (metrics: `payload.metrics` of INFO events, and of the final event). */
  private async execute(a: Active): Promise<void> {
    const outbox = new EventOutbox(this.client, a.run.op, this.log);
    this.outboxes.add(outbox);
    // The run's last metrics travel in its COMPLETED or FAILED event's payload (`metrics`, beside
    // `outputs`): the run reports them right before its end, in the same turn, and one request fewer
    // per run is 0.4 ms of the agent's CPU and 0.3 ms of the server's (docs/performance.md). Metrics
    // reported at any other time go out as INFO events, after the current turn.
    let pending: RunMetric[] | undefined;
    const final = (payload: Record<string, unknown>) => {
      const metrics = pending;
      pending = undefined;
      return metrics ? { ...payload, metrics } : payload;
    };
    try {
      await a.run.execute({
        started: () => outbox.push("STARTED", `worker ${this.id}`),
        progress: (pct) => outbox.push("PROGRESS", pct),
        metrics: (batch) => {
          if (pending) pending.push(...batch);
          else {
            pending = [...batch];
            queueMicrotask(() => {
              if (pending) outbox.push("INFO", "metrics", final({}));
            });
          }
        },
        completed: (values) => outbox.push("COMPLETED", `${values.length} epochs`, final({ outputs: { values } })),
        failed: (message) => outbox.push("FAILED", message, final({ error_message: message })),
      });
    } finally {
      await outbox.flushed();
      this.outboxes.delete(outbox);
    }
  }
}
