/**
 * The job registry's part of the dashboard: the newest runs (state, progress,
 * worker, attempts) and their events as they come. Read from the registry's
 * store only while someone watches, at the feed's pace; events are read only
 * for runs whose event count moved, from where the last read stopped.
 */
import type { Logger } from "pino";
import type { JobEventView, JobRunView, ServerMessage } from "./messages.ts";

/** What the dashboard reads of the registry's store (the Store interface has it). */
export interface JobsSource {
  listRuns(query?: { limit?: number }): Promise<
    Array<{
      id: string;
      definition: { name: string; version: string } | null;
      image: string;
      state: string;
      progress: number;
      worker_id: string | null;
      attempt: number;
      max_attempts: number;
      error_message: string | null;
      created_at: number;
      updated_at: number;
      next_event_id: number;
    }>
  >;
  listEvents(runId: string, after?: number): Promise<Array<{ id: number; type: string; t: number; msg: string | number; state: string }>>;
}

const RUNS_SHOWN = 50;
const EVENTS_KEPT = 200;

export class JobsFeed {
  private runsText = "";
  /** Per run shown: the events kept, and the next event id the store will give it. */
  private readonly events = new Map<string, { list: JobEventView[]; next: number }>();
  private busy = false;

  constructor(
    private readonly source: JobsSource,
    private readonly log: Logger | undefined,
  ) {}

  /** Reads what changed: `broadcast` gets the changes (for viewers already up to date), each of `fresh` everything kept. */
  /** False when a read was still under way (nothing done: `fresh` should come again). */
  async sample(broadcast: (text: string) => void, fresh: ReadonlyArray<(text: string) => void>): Promise<boolean> {
    if (this.busy) return false;
    this.busy = true;
    try {
      const runs = await this.source.listRuns({ limit: RUNS_SHOWN });
      const views: JobRunView[] = runs.map((r) => ({
        id: r.id,
        name: r.definition ? `${r.definition.name}@${r.definition.version}` : r.image || "inline graph",
        state: r.state,
        progress: r.progress,
        worker: r.worker_id,
        attempt: r.attempt,
        maxAttempts: r.max_attempts,
        error: r.error_message,
        createdAt: r.created_at,
        updatedAt: r.updated_at,
      }));
      const text = JSON.stringify({ type: "jobs", runs: views } satisfies ServerMessage);
      if (text !== this.runsText) broadcast(text);
      this.runsText = text;
      for (const f of fresh) f(text);
      const shown = new Set(runs.map((r) => r.id));
      for (const id of this.events.keys()) if (!shown.has(id)) this.events.delete(id);
      for (const r of runs) {
        const kept = this.events.get(r.id) ?? { list: [], next: 0 };
        this.events.set(r.id, kept);
        if (r.next_event_id > kept.next) {
          const added = (await this.source.listEvents(r.id, kept.next - 1)).map((e) => ({ id: e.id, type: e.type, t: e.t, msg: e.msg, state: e.state }));
          if (added.length > 0) {
            kept.list.push(...added);
            kept.list.splice(0, Math.max(0, kept.list.length - EVENTS_KEPT));
            kept.next = added[added.length - 1]!.id + 1;
            broadcast(JSON.stringify({ type: "jobEvents", runId: r.id, events: added } satisfies ServerMessage));
          }
        }
        if (kept.list.length > 0) for (const f of fresh) f(JSON.stringify({ type: "jobEvents", runId: r.id, events: kept.list } satisfies ServerMessage));
      }
      return true;
    } catch (err) {
      this.log?.warn({ err }, "dashboard: reading the job registry failed");
      return true;
    } finally {
      this.busy = false;
    }
  }
}
