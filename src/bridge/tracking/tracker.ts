/**
 * Run tracking over the store: projects, runs with their status, metrics.
 * The REST API, `tubular run --track`, the job registry and JSON-RPC runners
 * all go through this one class, so a run is the same record whichever way
 * it was made.
 */
import { randomUUID } from "node:crypto";
import os from "node:os";
import type { MetricRecord, NewMetric, ProjectRecord, TrackedRunRecord, TrackStatus } from "../../store/tracking-records.ts";
import type { TrackingStore } from "../../store/tracking-store.ts";
import { TrackingError } from "./tracking-error.ts";
import { randomRunName, slugify, uniqueRunName } from "./names.ts";

export interface StartRun {
  namespace: string;
  /** The project's display name; its slug is derived, and the project made when missing. */
  project: string;
  name?: string | undefined;
  description?: string | undefined;
  status?: TrackStatus | undefined;
  /** The process that runs it, so a run it leaves RUNNING is FAILED at the next start. */
  owner?: { host: string; pid: number } | undefined;
  jobRunId?: string | undefined;
}

export const DEFAULT_NAMESPACE = "tubular";

/** Whether a process of this host is alive (signal 0 checks without touching it). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export class Tracker {
  constructor(readonly store: TrackingStore, private readonly now: () => number = Date.now) {}

  /** This process, as the owner of the runs it starts. */
  static self(): { host: string; pid: number } {
    return { host: os.hostname(), pid: process.pid };
  }

  async project(namespace: string, slug: string): Promise<ProjectRecord> {
    const p = await this.store.getProject(namespace, slug);
    if (!p) throw TrackingError.notFound(`no project "${slug}" in namespace "${namespace}"`);
    return p;
  }

  /** The project with this display name's slug, made (RESTRICTED) when missing. */
  async ensureProject(namespace: string, displayName: string, visibility = "RESTRICTED"): Promise<ProjectRecord> {
    const slug = slugify(displayName);
    if (!slug) throw TrackingError.badRequest(`project name "${displayName}" has no letters or digits to make a slug from`, "display_name");
    return (await this.store.getProject(namespace, slug)) ?? this.store.createProject({ uuid: randomUUID(), namespace, slug, display_name: displayName, visibility, created_at: this.now(), last_run_at: null });
  }

  /** Creates a run in an existing project (by slug). */
  async createRun(project: ProjectRecord, o: Omit<StartRun, "namespace" | "project">): Promise<TrackedRunRecord> {
    const now = this.now();
    const base = o.name && o.name.trim() !== "" ? o.name : undefined;
    return this.store.createTrackedRun({
      uuid: randomUUID(),
      project_uuid: project.uuid,
      pickName: (taken) => uniqueRunName(base ?? freshName(taken), taken),
      description: o.description ?? "",
      status: o.status ?? "RUNNING",
      created_at: now,
      updated_at: now,
      owner_host: o.owner?.host ?? null,
      owner_pid: o.owner?.pid ?? null,
      job_run_id: o.jobRunId ?? null,
    });
  }

  /** `run.init`: the project made when missing, then a new run in it. */
  async start(o: StartRun): Promise<TrackedRunRecord> {
    const p = await this.ensureProject(o.namespace, o.project);
    return this.createRun(p, o);
  }

  async run(uuid: string): Promise<TrackedRunRecord> {
    const r = await this.store.getTrackedRun(uuid);
    if (!r) throw TrackingError.notFound(`no run "${uuid}"`);
    return r;
  }

  async setStatus(uuid: string, status: TrackStatus, description?: string): Promise<TrackedRunRecord> {
    const r = await this.store.updateTrackedRun(uuid, { status, description }, this.now());
    if (!r) throw TrackingError.notFound(`no run "${uuid}"`);
    return r;
  }

  async log(uuid: string, metrics: Array<Omit<NewMetric, "timestamp"> & { timestamp?: number }>): Promise<void> {
    const t = this.now();
    for (const m of metrics) {
      if (typeof m.name !== "string" || m.name === "") throw TrackingError.badRequest("a metric needs a name", "name");
      if (m.step !== undefined && (!Number.isInteger(m.step) || m.step < 0)) throw TrackingError.badRequest(`metric ${m.name}: step must be a whole number >= 0`, "step");
    }
    const ok = await this.store.addMetrics(uuid, metrics.map((m) => ({ name: m.name, value: m.value, step: m.step, timestamp: m.timestamp ?? t })));
    if (!ok) throw TrackingError.notFound(`no run "${uuid}"`);
  }

  metrics(uuid: string): Promise<MetricRecord[]> {
    return this.store.listMetrics(uuid);
  }

  /** Runs of this host's dead processes that were left RUNNING become FAILED. */
  failOrphans(host = os.hostname()): Promise<TrackedRunRecord[]> {
    return this.store.failOrphanedRuns(host, processAlive, this.now());
  }
}

function freshName(taken: ReadonlySet<string>): string {
  // A generated name that is already taken is drawn again a few times before falling back to _1, _2.
  let name = randomRunName();
  for (let i = 0; i < 5 && taken.has(name); i++) name = randomRunName();
  return name;
}
