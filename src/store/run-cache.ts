/**
 * The SQLite store's write-through cache of run records: the run as this
 * process last committed it, so that appending an event neither reads the
 * run's row back nor parses its JSON columns, nor copies a record whose
 * lazily parsed fields are accessors (A/B, medians of 3: a loop of INFO
 * appends on the store alone, 32 at a time, 128 -> 53 us of CPU per event;
 * `bench/registry.bench.ts --runs 200 --events 300`, server CPU per event
 * 0.367 -> 0.315 ms on a loaded machine).
 *
 * It is right only while every write to the runs table goes through this
 * process's store, which SQLite cannot promise (another process may open the
 * file). So the owner checks `PRAGMA data_version` before trusting it: the
 * value moves when any other connection commits to the file, and then the
 * whole cache is dropped. Entries become visible only once the transaction
 * that wrote them committed (`stage` then `publish`; `discard` on rollback).
 *
 * PostgreSQL has no such cache: several servers write one database there.
 * Records handed out are shared: callers treat them as read-only (the state
 * machine returns new records, never edits one).
 */
import type { RunRecord } from "./records.ts";

/** Runs kept; the oldest written is dropped beyond it. A run is a few hundred bytes plus its graph. */
export const RUN_CACHE_LIMIT = 10_000;

export class RunCache {
  private readonly runs = new Map<string, RunRecord>();
  /** The current transaction's writes: a record, or null for "forget this run". */
  private staged = new Map<string, RunRecord | null>();
  /** Staged writes of the enclosing transaction while one job of a group runs in its savepoint (see mark()). */
  private outer: Map<string, RunRecord | null> | undefined;

  constructor(private readonly limit = RUN_CACHE_LIMIT) {}

  /** The run as the current transaction sees it: its own staged write first, then the committed one. */
  get(id: string): RunRecord | undefined {
    const s = this.staged.get(id) ?? this.outer?.get(id);
    if (s !== undefined) return s ?? undefined;
    return this.runs.get(id);
  }

  /** A run read from the database (committed state): cached as is. */
  remember(run: RunRecord): void {
    if (this.staged.has(run.id) || this.outer?.has(run.id)) return;
    this.set(run);
  }

  /** A write of the current transaction. */
  stage(run: RunRecord): void {
    this.staged.set(run.id, run);
  }

  /** A write of the current transaction that changed the run in ways the record does not follow: read it again next time. */
  forget(id: string): void {
    this.staged.set(id, null);
  }

  /** The writes staged since `mark()`, to be published or discarded together (one job of a group). */
  mark(): Map<string, RunRecord | null> {
    const outer = this.staged;
    this.outer = outer;
    this.staged = new Map();
    return outer;
  }

  /** Ends a job started with `mark()`: its writes join the outer ones when kept, vanish otherwise. */
  unmark(outer: Map<string, RunRecord | null>, keep: boolean): void {
    if (keep) for (const [id, r] of this.staged) outer.set(id, r);
    this.staged = outer;
    this.outer = undefined;
  }

  /** The transaction committed: its writes become the cached state. */
  publish(): void {
    this.outer = undefined;
    for (const [id, r] of this.staged) {
      if (r === null) this.runs.delete(id);
      else this.set(r);
    }
    this.staged = new Map();
  }

  /** The transaction rolled back: its writes never happened. */
  discard(): void {
    this.outer = undefined;
    this.staged = new Map();
  }

  /** Another connection wrote the file: nothing cached can be trusted. */
  clear(): void {
    this.runs.clear();
  }

  get size(): number {
    return this.runs.size;
  }

  private set(run: RunRecord): void {
    this.runs.delete(run.id);
    this.runs.set(run.id, run);
    if (this.runs.size > this.limit) this.runs.delete(this.runs.keys().next().value!);
  }
}
