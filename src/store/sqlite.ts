/**
 * The SQLite store: one file, WAL, through better-sqlite3. Every write is a
 * transaction committed before the HTTP answer goes out; with WAL and
 * synchronous=NORMAL a committed transaction is in the file's WAL before the
 * call returns, so it survives the process being killed (-9). (It may be
 * lost in an operating-system crash or power cut; FULL would fsync each
 * commit, at several times the cost: see docs/architecture.md.)
 *
 * Group commit: the writes asked for in one turn of the event loop (the
 * requests that arrived together) are applied in one IMMEDIATE transaction,
 * and every caller's promise settles only after that transaction committed.
 * When one of them throws (a refused transition), the group is applied
 * again with each write inside its own savepoint, so that one that throws
 * rolls back only itself; the writes are functions of the stored state, so
 * applying them again after the rollback gives the same result.
 * A commit's fixed cost (locks, WAL frames of the pages every write touches,
 * checkpoints) is then shared; what was acknowledged is committed, as before.
 *
 * One process owns the file's writes at a time: SQLite serializes writers,
 * and a claim is applied inside one transaction, so no run is claimed twice.
 */
import Database from "better-sqlite3";
import { TubularError } from "../errors.ts";
import { LATEST_VERSION, MIGRATIONS } from "./migrations.ts";
import { RunCache } from "./run-cache.ts";
import { BACKSTOP_PAGES, SqliteCheckpointer } from "./sqlite-checkpointer.ts";
import { SqliteTracking } from "./tracking-sqlite.ts";
import type { AttemptRecord, DefinitionRecord, EventRecord, NewEvent, RunChange, RunRecord, WorkerRecord } from "./records.ts";
import { RUN_COLUMNS, RUN_MUTABLE, runMutableRow, rowToAttempt, rowToDefinition, rowToEvent, rowToRun, rowToWorker, runToRow, workerToRow } from "./rows.ts";
import type { ClaimPlanner, RunQuery, Store } from "./store.ts";
import { keyFirst, toJson } from "./store.ts";

type Row = Record<string, unknown>;

interface Job {
  fn: () => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

const RUN_UPDATE = `UPDATE runs SET ${RUN_MUTABLE.map((c) => `${c} = ?`).join(", ")} WHERE id = ?`;
const RUN_INSERT = `INSERT INTO runs (${RUN_COLUMNS.join(", ")}) VALUES (${RUN_COLUMNS.map(() => "?").join(", ")})`;
const QUEUE_SCAN = 200;

export class SqliteStore implements Store {
  readonly kind = "sqlite" as const;
  readonly tracking: SqliteTracking;
  private readonly db: Database.Database;
  private readonly stmts: Record<string, Database.Statement>;
  /** Transactions committed and the writes they carried (writes / commits = the mean group). */
  readonly commits = { transactions: 0, writes: 0 };
  /** Writes waiting for the next group commit. */
  private queue: Job[] = [];
  private savepoint: (fn: () => unknown) => unknown;
  /** Runs as last committed here, checked against other connections' commits (see run-cache.ts). */
  private readonly runCache = new RunCache();
  /** `PRAGMA data_version` when the cache was last known right. */
  private dataVersion: unknown = undefined;

  private constructor(
    db: Database.Database,
    /** WAL checkpoints off the answering thread; none for an in-memory database. */
    private readonly checkpointer: SqliteCheckpointer | undefined,
  ) {
    this.db = db;
    // Inside the group's transaction a transaction function is a SAVEPOINT: one write's failure undoes only that write.
    this.savepoint = (fn) => db.transaction(fn)();
    this.tracking = new SqliteTracking(db);
    const p = (sql: string) => db.prepare(sql);
    this.stmts = {
      runInsert: p(RUN_INSERT),
      runUpdate: p(RUN_UPDATE),
      runGet: p("SELECT * FROM runs WHERE id = ?"),
      dataVersion: p("PRAGMA data_version").pluck(),
      eventInsert: p("INSERT INTO run_events (run_id, id, type, t, msg, state, payload, client_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
      eventByKey: p("SELECT 1 FROM run_events WHERE run_id = ? AND client_key = ?"),
      events: p("SELECT * FROM run_events WHERE run_id = ? AND id > ? ORDER BY id"),
      attemptUpsert: p(
        "INSERT INTO run_attempts (run_id, number, worker_id, state, started_at, ended_at, error_message) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, number) DO UPDATE SET worker_id = excluded.worker_id, state = excluded.state, started_at = COALESCE(excluded.started_at, run_attempts.started_at), ended_at = excluded.ended_at, error_message = excluded.error_message",
      ),
      attempts: p("SELECT * FROM run_attempts WHERE run_id = ? ORDER BY number"),
      defUpsert: p("INSERT INTO definitions (name, version, body, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (name, version) DO UPDATE SET body = excluded.body, created_at = excluded.created_at"),
      defGet: p("SELECT body FROM definitions WHERE name = ? AND version = ?"),
      defLatest: p("SELECT body FROM definitions WHERE name = ? ORDER BY created_at DESC, rowid DESC LIMIT 1"),
      defList: p("SELECT body FROM definitions ORDER BY name, created_at"),
      workerUpsert: p(
        "INSERT INTO workers (worker_id, resources, tags, running_ops, status, last_heartbeat, protocol) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (worker_id) DO UPDATE SET resources = excluded.resources, tags = excluded.tags, running_ops = excluded.running_ops, status = excluded.status, last_heartbeat = excluded.last_heartbeat, protocol = excluded.protocol",
      ),
      workerGet: p("SELECT * FROM workers WHERE worker_id = ?"),
      workerList: p("SELECT * FROM workers ORDER BY worker_id"),
      workerSeen: p("UPDATE workers SET status = 'online', last_heartbeat = ? WHERE worker_id = ?"),
      workerStale: p("SELECT * FROM workers WHERE status = 'online' AND last_heartbeat < ?"),
      workerOffline: p("UPDATE workers SET status = 'offline' WHERE worker_id = ?"),
      held: p("SELECT * FROM runs WHERE worker_id = ? AND state IN ('ASSIGNED', 'RUNNING')"),
      pending: p(`SELECT * FROM runs WHERE state = 'PENDING' ORDER BY priority DESC, seq LIMIT ${QUEUE_SCAN}`),
      backlog: p("SELECT * FROM runs WHERE webhook_url IS NOT NULL AND webhook_cursor < next_event_id - 1 ORDER BY seq LIMIT ?"),
      advance: p("UPDATE runs SET webhook_cursor = ? WHERE id = ? AND webhook_cursor < ?"),
      lease: p("UPDATE runs SET webhook_owner = ?, webhook_lease_until = ? WHERE id = ? AND (webhook_owner IS NULL OR webhook_owner = ? OR webhook_lease_until < ?)"),
    };
  }

  /** Opens (creating when missing) the database file and brings its schema up to date. */
  static open(file: string): SqliteStore {
    let db: Database.Database;
    try {
      db = new Database(file);
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
      db.pragma("busy_timeout = 5000");
      db.pragma("foreign_keys = ON");
      db.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
      migrate(db, file);
    } catch (err) {
      if (err instanceof TubularError) throw err;
      throw new TubularError("TUBULAR_ERR_STORE", `the database ${file} could not be opened: ${(err as Error).message}`, { file }, { cause: err });
    }
    const onDisk = file !== "" && file !== ":memory:" && !file.startsWith("file::memory:");
    return new SqliteStore(db, onDisk ? new SqliteCheckpointer(file) : undefined);
  }

  async close(): Promise<void> {
    // Writes already asked for are committed (and settled) before the file closes.
    this.commit();
    await this.checkpointer?.stop();
    if (this.db.open) this.db.close();
  }

  async putDefinition(def: DefinitionRecord): Promise<DefinitionRecord> {
    return this.group(() => {
      this.stmts.defUpsert!.run(def.name, def.version, JSON.stringify(def), def.created_at);
      return def;
    });
  }

  async getDefinition(name: string, version?: string): Promise<DefinitionRecord | undefined> {
    const row = (version === undefined ? this.stmts.defLatest!.get(name) : this.stmts.defGet!.get(name, version)) as Row | undefined;
    return row ? rowToDefinition(row) : undefined;
  }

  async listDefinitions(): Promise<DefinitionRecord[]> {
    return (this.stmts.defList!.all() as Row[]).map(rowToDefinition);
  }

  async createRun(change: RunChange): Promise<RunRecord> {
    return this.group(() => {
      const run = { ...change.run, next_event_id: 0 };
      this.stmts.runInsert!.run(...runToRow(run));
      return this.write(run, change.events, change.attempts);
    });
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    this.checkForeignWrites();
    return this.readRun(id);
  }

  async listRuns(query: RunQuery = {}): Promise<RunRecord[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (query.states?.length) {
      where.push(`state IN (${query.states.map(() => "?").join(", ")})`);
      args.push(...query.states);
    }
    if (query.workerId !== undefined) {
      where.push("worker_id = ?");
      args.push(query.workerId);
    }
    const sql = `SELECT * FROM runs ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...args, query.limit ?? 100) as Row[]).map(rowToRun);
  }

  async updateRun(id: string, change: (run: RunRecord) => RunChange, options: { key?: string } = {}): Promise<RunRecord | undefined> {
    return this.group(() => {
      const run = this.readRun(id);
      if (!run) return undefined;
      if (options.key !== undefined && this.stmts.eventByKey!.get(id, options.key)) return run;
      const c = change(run);
      return this.write(c.run, keyFirst(c.events, options.key), c.attempts);
    });
  }

  async listEvents(runId: string, after = -1): Promise<EventRecord[]> {
    return (this.stmts.events!.all(runId, after) as Row[]).map(rowToEvent);
  }

  async listAttempts(runId: string): Promise<AttemptRecord[]> {
    return (this.stmts.attempts!.all(runId) as Row[]).map(rowToAttempt);
  }

  async putWorker(worker: WorkerRecord): Promise<WorkerRecord> {
    return this.group(() => {
      this.stmts.workerUpsert!.run(...workerToRow(worker));
      return worker;
    });
  }

  async getWorker(id: string): Promise<WorkerRecord | undefined> {
    const row = this.stmts.workerGet!.get(id) as Row | undefined;
    return row ? rowToWorker(row) : undefined;
  }

  async listWorkers(): Promise<WorkerRecord[]> {
    return (this.stmts.workerList!.all() as Row[]).map(rowToWorker);
  }

  async claim(workerId: string, now: number, plan: ClaimPlanner): Promise<RunRecord[] | undefined> {
    return this.group(() => {
      if (this.stmts.workerSeen!.run(now, workerId).changes === 0) return undefined;
      const worker = rowToWorker(this.stmts.workerGet!.get(workerId) as Row);
      const held = (this.stmts.held!.all(workerId) as Row[]).map(rowToRun);
      // The queue is read row by row as the planner walks it: a claim for one run reads about one
      // row, not the whole scan window (reading 200 full rows per claim cost ~10 ms).
      const rows = this.stmts.pending!.iterate() as IterableIterator<Row>;
      let changes;
      try {
        changes = plan(worker, held, mapIter(rows, rowToRun));
      } finally {
        rows.return?.();
      }
      return changes.map((c) => this.write(c.run, c.events, c.attempts));
    });
  }

  async expireWorkers(cutoff: number, lose: (run: RunRecord) => RunChange): Promise<string[]> {
    return this.group(() => {
      const stale = (this.stmts.workerStale!.all(cutoff) as Row[]).map(rowToWorker);
      for (const w of stale) {
        this.stmts.workerOffline!.run(w.worker_id);
        for (const row of this.stmts.held!.all(w.worker_id) as Row[]) {
          const c = lose(rowToRun(row));
          this.write(c.run, c.events, c.attempts);
        }
      }
      return stale.map((w) => w.worker_id);
    });
  }

  async webhookBacklog(limit: number): Promise<RunRecord[]> {
    return (this.stmts.backlog!.all(limit) as Row[]).map(rowToRun);
  }

  async advanceWebhook(runId: string, cursor: number): Promise<void> {
    await this.group(() => {
      if (this.stmts.advance!.run(cursor, runId, cursor).changes > 0) this.runCache.forget(runId);
    });
  }

  async leaseWebhook(runId: string, owner: string, now: number, ms: number): Promise<boolean> {
    return this.group(() => this.stmts.lease!.run(owner, now + ms, runId, owner, now).changes > 0);
  }

  /** The run as committed (or as the current transaction wrote it): from the cache, else its row. */
  private readRun(id: string): RunRecord | undefined {
    const cached = this.runCache.get(id);
    if (cached) return cached;
    const row = this.stmts.runGet!.get(id) as Row | undefined;
    if (!row) return undefined;
    const run = rowToRun(row);
    this.runCache.remember(run);
    return run;
  }

  /** Drops the run cache when another connection committed to the file since we last looked. */
  private checkForeignWrites(): void {
    const v = this.stmts.dataVersion!.get();
    if (v !== this.dataVersion) {
      this.runCache.clear();
      this.dataVersion = v;
    }
  }

  /** Runs `fn` as one IMMEDIATE transaction; the run cache takes its writes only if it commits. */
  private transact<T>(fn: () => T): T {
    let value: T;
    try {
      value = this.db
        .transaction(() => {
          this.checkForeignWrites();
          return fn();
        })
        .immediate();
    } catch (err) {
      this.runCache.discard();
      throw err;
    }
    this.runCache.publish();
    return value;
  }

  /** Queues a write for the next group commit; settles once that commit is in the file. */
  private group<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (!this.db.open) return reject(new TubularError("TUBULAR_ERR_STORE", "the database is closed"));
      if (this.queue.length === 0) setImmediate(() => this.commit());
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
    });
  }

  /** Applies the queued writes in one transaction, each in a savepoint, then settles them. */
  private commit(): void {
    const jobs = this.queue;
    this.queue = [];
    if (jobs.length === 0) return;
    this.commits.transactions++;
    this.commits.writes += jobs.length;
    if (jobs.length === 1) {
      // Alone: its own transaction, rolled back whole if it throws.
      const job = jobs[0]!;
      let value: unknown;
      try {
        value = this.transact(job.fn);
      } catch (err) {
        return job.reject(err);
      }
      return job.resolve(value);
    }
    // Most groups have no failing write: applied without savepoints (a SAVEPOINT and a RELEASE per
    // write cost more than the write itself: bench/registry.bench.ts, server CPU per event 0.49 ->
    // 0.36 ms). When one write throws (or the commit fails), the whole transaction is rolled back and
    // the group applied again below, each write in its own savepoint, so the others still commit.
    let values: unknown[] | undefined;
    try {
      if (!this.db.open) throw new TubularError("TUBULAR_ERR_STORE", "the database is closed");
      values = this.transact(() => jobs.map((job) => job.fn()));
    } catch {
      values = undefined;
    }
    if (values) {
      jobs.forEach((job, i) => job.resolve(values[i]));
      return;
    }
    const results: Array<{ ok: true; value: unknown } | { ok: false; err: unknown }> = [];
    try {
      if (!this.db.open) throw new TubularError("TUBULAR_ERR_STORE", "the database is closed");
      this.transact(() => {
        for (const job of jobs) {
          // A write rolled back to its savepoint leaves no trace in the run cache either.
          const outer = this.runCache.mark();
          try {
            results.push({ ok: true, value: this.savepoint(job.fn) });
            this.runCache.unmark(outer, true);
          } catch (err) {
            results.push({ ok: false, err });
            this.runCache.unmark(outer, false);
          }
        }
      });
    } catch (err) {
      // Nothing of the group was committed: every write fails.
      for (const job of jobs) job.reject(err);
      return;
    }
    jobs.forEach((job, i) => {
      const r = results[i]!;
      if (r.ok) job.resolve(r.value);
      else job.reject(r.err);
    });
  }

  /** Writes a changed run, numbers and inserts its events, upserts its attempt; inside a transaction. */
  private write(run: RunRecord, events: NewEvent[], attempts: AttemptRecord[] | undefined): RunRecord {
    let next = run.next_event_id;
    for (const e of events) {
      this.stmts.eventInsert!.run(run.id, next++, e.type, e.t, JSON.stringify(e.msg), e.state, toJson(e.payload), e.key ?? null);
    }
    const out = { ...run, next_event_id: next };
    this.stmts.runUpdate!.run(...runMutableRow(out), out.id);
    this.runCache.stage(out);
    for (const a of attempts ?? []) this.stmts.attemptUpsert!.run(run.id, a.number, a.worker_id, a.state, a.started_at, a.ended_at, a.error_message);
    return out;
  }
}

function* mapIter<A, B>(it: Iterable<A>, f: (a: A) => B): Generator<B> {
  for (const a of it) yield f(a);
}

function migrate(db: Database.Database, file: string): void {
  db.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at REAL NOT NULL)");
  db.transaction(() => {
    const current = (db.prepare("SELECT MAX(version) AS v FROM schema_migrations").get() as { v: number | null }).v ?? 0;
    if (current > LATEST_VERSION) {
      throw new TubularError("TUBULAR_ERR_STORE", `the database ${file} has schema version ${current}, newer than this tubular knows (${LATEST_VERSION}); upgrade tubular`, { file });
    }
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      db.exec(m.sqlite);
      db.prepare("INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)").run(m.version, m.description, Date.now());
    }
  }).immediate();
}
