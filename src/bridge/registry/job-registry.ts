/**
 * The job registry: the operations of the HTTP API over the store, with the
 * state machine and placement applied inside the store's transactions. It
 * also runs the worker sweeper (a worker silent for longer than the timeout
 * goes offline and its runs fail with "worker lost", retried by their
 * policy) and the webhook dispatcher.
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { AttemptRecord, Constraints, DefinitionRecord, EventRecord, NewEvent, RunChange, RunRecord, RunState, WorkerRecord } from "../../store/records.ts";
import type { Store } from "../../store/store.ts";
import { checkRunInputs, inputDecls, resolveGraph } from "./graph-source.ts";
import { planClaim } from "./placement.ts";
import { badRequest, notFound } from "./registry-error.ts";
import type { AdHocRunBody, DefinitionBody, DefinitionRunBody, EventBody, HeartbeatBody, PatchRunBody } from "./schemas.ts";
import { applyEvent, created, lost, patched, retried } from "./state-machine.ts";
import { WebhookDispatcher } from "./webhooks.ts";
import type { z } from "zod";

export interface JobRegistryOptions {
  store: Store;
  log: Logger;
  /** Graph files `image` may name live here. */
  graphsDir?: string | undefined;
  /** A worker silent this long is offline and loses its runs; default 30 s. */
  workerTimeoutMs?: number;
  /** Runs one claim hands out at most, when the worker does not say (`?limit=`); default 1. */
  defaultClaimLimit?: number;
}

export const DEFAULT_WORKER_TIMEOUT_MS = 30_000;

/** Told of a run a worker claimed (no event) or a worker's event on it, in order, after the store has it (run tracking listens). */
export type RunObserver = (run: RunRecord, event?: { type: string; payload?: Record<string, unknown> | null | undefined }) => void;
const DEFAULT_MAX_ATTEMPTS = 3;
const DEFAULT_PRIORITY = 5;

type Maybe<T> = T | null | undefined;

/** A new run as stored, with the events and attempts its creation wrote (the answer to the POST needs no read back). */
export interface CreatedRun {
  run: RunRecord;
  events: EventRecord[];
  attempts: AttemptRecord[];
}

/** Events a change wrote, numbered as the store numbered them: they end at the run's next_event_id - 1. */
function numbered(run: RunRecord, events: NewEvent[]): EventRecord[] {
  const first = run.next_event_id - events.length;
  return events.map((e, i) => ({ id: first + i, type: e.type, t: e.t, msg: e.msg, state: e.state, payload: e.payload ?? null }));
}

function constraintsOf(c: Maybe<{ cpu?: Maybe<number>; ram_mb?: Maybe<number>; vram_mb?: Maybe<number>; tags?: Maybe<string[]> }>, base?: Constraints): Constraints {
  return { cpu: c?.cpu ?? base?.cpu ?? 0, ram_mb: c?.ram_mb ?? base?.ram_mb ?? 0, vram_mb: c?.vram_mb ?? base?.vram_mb ?? 0, tags: c?.tags ?? base?.tags ?? [] };
}

export class JobRegistry {
  readonly store: Store;
  readonly workerTimeoutMs: number;
  private readonly log: Logger;
  private readonly webhooks: WebhookDispatcher;
  private sweeper: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  private readonly observers: RunObserver[] = [];

  constructor(private readonly o: JobRegistryOptions) {
    this.store = o.store;
    this.log = o.log.child({ component: "job-registry" });
    this.workerTimeoutMs = o.workerTimeoutMs ?? DEFAULT_WORKER_TIMEOUT_MS;
    this.webhooks = new WebhookDispatcher({ store: o.store, log: this.log });
  }

  start(): void {
    this.webhooks.start();
    this.sweeper = setInterval(() => {
      this.sweeping ??= this.expireWorkers().then(
        () => undefined,
        () => undefined,
      ).finally(() => (this.sweeping = undefined));
    }, Math.max(50, Math.min(5000, this.workerTimeoutMs / 4)));
    this.sweeper.unref();
  }

  /** Adds a listener of claims and events (see RunObserver); it must not throw. */
  observe(listener: RunObserver): void {
    this.observers.push(listener);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await this.sweeping;
    await this.webhooks.close();
  }

  /** Workers past the timeout go offline; their runs fail ("worker lost") and are retried by policy. */
  async expireWorkers(now = Date.now()): Promise<string[]> {
    try {
      const gone = await this.store.expireWorkers(now - this.workerTimeoutMs, (run) => lost(run, now));
      if (gone.length) {
        this.log.warn({ workers: gone }, "workers lost (no heartbeat within the timeout); their runs are retried by policy");
        this.webhooks.poke();
      }
      return gone;
    } catch (err) {
      this.log.error({ err: (err as Error).message }, "worker sweep failed");
      return [];
    }
  }

  // ---- definitions

  async putDefinition(body: z.infer<typeof DefinitionBody>): Promise<DefinitionRecord> {
    const graph = await resolveGraph(this.o.graphsDir, body.image, body.graph);
    const derived = inputDecls(graph);
    const inputs = { ...derived };
    for (const [name, d] of Object.entries(body.inputs ?? {})) {
      const base = derived[name];
      if (!base) throw badRequest(`inputs.${name}: the graph declares no such tube input`, [{ path: `inputs.${name}`, message: "unknown input" }]);
      inputs[name] = { ...base, ...(d.type !== undefined ? { type: d.type } : {}), ...(d.required !== undefined ? { required: d.required } : {}), ...(d.default !== undefined ? { default: d.default } : {}), ...(d.description !== undefined ? { description: d.description } : {}) };
    }
    const def: DefinitionRecord = {
      name: body.name,
      version: body.version ?? "1",
      description: body.description ?? "",
      image: body.graph ? "" : (body.image ?? ""),
      graph,
      inputs,
      constraints: constraintsOf(body.constraints),
      retry_policy: { max_attempts: body.retry_policy?.max_attempts ?? DEFAULT_MAX_ATTEMPTS },
      priority: body.priority ?? DEFAULT_PRIORITY,
      event_delivery: body.event_delivery ?? null,
      created_at: Date.now(),
    };
    return this.store.putDefinition(def);
  }

  async getDefinition(name: string, version?: string): Promise<DefinitionRecord> {
    const d = await this.store.getDefinition(name, version);
    if (!d) throw notFound(version === undefined ? `no definition "${name}"` : `no definition "${name}" version "${version}"`);
    return d;
  }

  // ---- runs

  async createFromDefinition(name: string, version: string | undefined, body: z.infer<typeof DefinitionRunBody>): Promise<CreatedRun> {
    const def = await this.getDefinition(name, version);
    const inputs = checkRunInputs(def.inputs, body.inputs ?? {});
    return this.insertRun({
      definition: { name: def.name, version: def.version },
      image: def.image,
      graph: def.graph,
      inputs,
      priority: body.priority ?? def.priority,
      constraints: def.constraints,
      max_attempts: def.retry_policy.max_attempts,
      event_delivery: body.event_delivery ?? def.event_delivery,
    });
  }

  async createAdHoc(body: z.infer<typeof AdHocRunBody>): Promise<CreatedRun> {
    const graph = await resolveGraph(this.o.graphsDir, body.image, body.graph);
    const inputs = checkRunInputs(inputDecls(graph), body.inputs ?? {});
    return this.insertRun({
      definition: null,
      image: body.graph ? "" : (body.image ?? ""),
      graph,
      inputs,
      priority: body.priority ?? DEFAULT_PRIORITY,
      constraints: constraintsOf(body.constraints),
      max_attempts: body.retry_policy?.max_attempts ?? DEFAULT_MAX_ATTEMPTS,
      event_delivery: body.event_delivery ?? null,
    });
  }

  private async insertRun(r: Pick<RunRecord, "definition" | "image" | "graph" | "inputs" | "priority" | "constraints" | "max_attempts" | "event_delivery">): Promise<CreatedRun> {
    const webhook = r.event_delivery && typeof r.event_delivery.webhook === "string" ? r.event_delivery.webhook : null;
    const change = created({ ...r, id: randomUUID(), created_at: Date.now(), webhook_url: webhook });
    const run = await this.store.createRun(change);
    if (webhook) this.webhooks.poke();
    return { run, events: numbered(run, change.events), attempts: change.attempts ?? [] };
  }

  async getRun(id: string): Promise<RunRecord> {
    const r = await this.store.getRun(id);
    if (!r) throw notFound(`no run "${id}"`);
    return r;
  }

  listRuns(q: { states?: RunState[]; limit?: number; workerId?: string }): Promise<RunRecord[]> {
    return this.store.listRuns(q);
  }

  private async change(id: string, fn: (run: RunRecord, now: number) => ReturnType<typeof applyEvent>, key?: string): Promise<RunRecord> {
    const r = await this.store.updateRun(id, (run) => fn(run, Date.now()), key !== undefined ? { key } : {});
    if (!r) throw notFound(`no run "${id}"`);
    if (r.webhook_url) this.webhooks.poke();
    return r;
  }

  patchRun(id: string, body: z.infer<typeof PatchRunBody>): Promise<RunRecord> {
    return this.change(id, (run, now) => patched(run, { state: body.state ?? undefined, outputs: body.outputs ?? undefined, priority: body.priority ?? undefined }, now));
  }

  retryRun(id: string): Promise<RunRecord> {
    return this.change(id, (run, now) => retried(run, now));
  }

  /**
   * Applies a posted event. `event` is the event as stored, known without reading it back;
   * undefined when the post repeated a key already stored (nothing new was written).
   */
  async addEvent(id: string, body: z.infer<typeof EventBody>): Promise<{ run: RunRecord; event: EventRecord | undefined }> {
    let change: RunChange | undefined;
    let before = -1;
    const run = await this.change(
      id,
      (run, now) => {
        if (body.attempt !== undefined && body.attempt !== run.attempt) throw badRequest(`run ${id} is at attempt ${run.attempt}: an event of attempt ${body.attempt} is refused`, [{ path: "attempt", message: "not the run's current attempt" }]);
        before = run.next_event_id;
        change = applyEvent(run, { type: body.type, msg: body.msg, payload: body.payload }, now);
        return change;
      },
      body.key !== undefined ? `${body.attempt ?? 0}:${body.key}` : undefined,
    );
    for (const o of this.observers) o(run, body);
    // A repeated key leaves the run as it was (the store did not call the change, or its next_event_id did not move).
    const stored = change && run.next_event_id === before + change.events.length ? numbered(run, change.events) : [];
    return { run, event: stored[stored.length - 1] };
  }

  async events(id: string, after?: number): Promise<ReturnType<Store["listEvents"]>> {
    await this.getRun(id);
    return this.store.listEvents(id, after);
  }

  async attempts(id: string): Promise<ReturnType<Store["listAttempts"]>> {
    await this.getRun(id);
    return this.store.listAttempts(id);
  }

  // ---- workers

  async heartbeat(body: z.infer<typeof HeartbeatBody>): Promise<{ worker: WorkerRecord; cancelled: string[] }> {
    const worker: WorkerRecord = {
      worker_id: body.worker_id,
      resources: { cpu_cores: body.resources.cpu_cores, ram_mb: body.resources.ram_mb, gpus: body.resources.gpus.map((g, i) => ({ id: typeof g.id === "number" ? g.id : i, vram_mb: g.vram_mb ?? 0, tags: g.tags ?? [] })) },
      tags: body.tags ?? [],
      running_ops: body.running_ops ?? [],
      status: "online",
      last_heartbeat: Date.now(),
      protocol: "http",
    };
    await this.store.putWorker(worker);
    // Runs the worker says it runs that the registry no longer gives it (cancelled, finished elsewhere, reassigned): it should stop them.
    const cancelled: string[] = [];
    for (const op of worker.running_ops) {
      const id = typeof op.run_id === "string" ? op.run_id : undefined;
      if (!id) continue;
      const run = await this.store.getRun(id);
      if (!run || run.worker_id !== worker.worker_id || !["ASSIGNED", "RUNNING"].includes(run.state) || (typeof op.attempt === "number" && op.attempt !== run.attempt)) cancelled.push(id);
    }
    return { worker, cancelled };
  }

  async claim(workerId: string, limit?: number): Promise<RunRecord[]> {
    const n = limit ?? this.o.defaultClaimLimit ?? 1;
    const now = Date.now();
    const runs = await this.store.claim(workerId, now, (worker, held, pending) => planClaim(worker, held, pending, n, now));
    if (!runs) throw notFound(`no worker "${workerId}": send POST /workers/heartbeat first`);
    if (runs.some((r) => r.webhook_url)) this.webhooks.poke();
    for (const r of runs) for (const o of this.observers) o(r);
    return runs;
  }

  async workers(): Promise<WorkerRecord[]> {
    return this.store.listWorkers();
  }
}
