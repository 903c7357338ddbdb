/**
 * The PostgreSQL store, for several `tubular serve` processes sharing one
 * registry. Every change is a transaction at READ COMMITTED; a run is read
 * `FOR UPDATE` before it changes, and a claim takes pending runs with
 * `FOR UPDATE SKIP LOCKED`, so two servers never hand one run to two
 * workers and never wait on each other's candidates. A claim also locks its
 * worker's row, so two claims of one worker (through two servers) are
 * serialized and its held resources are counted once.
 */
import pg from "pg";
import { TubularError } from "../errors.ts";
import { LATEST_VERSION, MIGRATIONS } from "./migrations.ts";
import { PostgresTracking } from "./tracking-postgres.ts";
import { transaction, withConnection } from "./pg-transaction.ts";
import type { AttemptRecord, DefinitionRecord, EventRecord, NewEvent, RunChange, RunRecord, WorkerRecord } from "./records.ts";
import { RUN_COLUMNS, RUN_MUTABLE, runMutableRow, rowToAttempt, rowToDefinition, rowToEvent, rowToRun, rowToWorker, runToRow, workerToRow } from "./rows.ts";
import { keyFirst, toJson, type ClaimPlanner, type RunQuery, type Store } from "./store.ts";

type Row = Record<string, unknown>;
type Client = pg.PoolClient;

const ph = (n: number, from = 1) => Array.from({ length: n }, (_, i) => `$${i + from}`).join(", ");
const RUN_INSERT = `INSERT INTO runs (${RUN_COLUMNS.join(", ")}) VALUES (${ph(RUN_COLUMNS.length)})`;
const RUN_UPDATE = `UPDATE runs SET ${RUN_MUTABLE.map((c, i) => `${c} = $${i + 2}`).join(", ")} WHERE id = $1`;
const QUEUE_SCAN = 200;
/** Pending runs a claim locks first (then 40, then QUEUE_SCAN when placement skips them all). */
const FIRST_PAGE = 8;
/** Every store's migrations run under this advisory lock, so servers starting together migrate once. */
const MIGRATION_LOCK = 0x7475_6275;

export interface PostgresStoreOptions {
  /** postgres://user:password@host:port/db */
  connectionString: string;
  /** A schema to keep the tables in (created when missing); default: the connection's search_path. */
  schema?: string;
  /** Connections in the pool; default 10. */
  max?: number;
}

export class PostgresStore implements Store {
  readonly kind = "postgres" as const;
  readonly tracking: PostgresTracking;
  private readonly pool: pg.Pool;

  private constructor(pool: pg.Pool) {
    this.pool = pool;
    this.tracking = new PostgresTracking(pool);
  }

  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const schema = options.schema;
    if (schema !== undefined && !/^[a-z_][a-z0-9_]*$/.test(schema)) throw new TubularError("TUBULAR_ERR_STORE", `schema name "${schema}": lower-case letters, digits and _ only`);
    const pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.max ?? 10,
      ...(schema ? { options: `-c search_path=${schema}` } : {}),
    });
    // An idle connection that breaks (server restart) must not crash the process.
    pool.on("error", () => undefined);
    try {
      await withConnection(pool, async (c) => {
        if (schema) await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
        await migrate(c);
      });
    } catch (err) {
      await pool.end().catch(() => undefined);
      if (err instanceof TubularError) throw err;
      throw new TubularError("TUBULAR_ERR_STORE", `PostgreSQL at ${redact(options.connectionString)} could not be used: ${(err as Error).message}`, {}, { cause: err });
    }
    return new PostgresStore(pool);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private async tx<T>(fn: (c: Client) => Promise<T>): Promise<T> {
    return transaction(this.pool, fn);
  }

  private async rows(sql: string, args: unknown[] = []): Promise<Row[]> {
    return (await this.pool.query(sql, args)).rows as Row[];
  }

  async putDefinition(def: DefinitionRecord): Promise<DefinitionRecord> {
    await this.pool.query(
      "INSERT INTO definitions (name, version, body, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (name, version) DO UPDATE SET body = excluded.body, created_at = excluded.created_at",
      [def.name, def.version, JSON.stringify(def), def.created_at],
    );
    return def;
  }

  async getDefinition(name: string, version?: string): Promise<DefinitionRecord | undefined> {
    const rows =
      version === undefined
        ? await this.rows("SELECT body FROM definitions WHERE name = $1 ORDER BY created_at DESC LIMIT 1", [name])
        : await this.rows("SELECT body FROM definitions WHERE name = $1 AND version = $2", [name, version]);
    return rows[0] ? rowToDefinition(rows[0]) : undefined;
  }

  async listDefinitions(): Promise<DefinitionRecord[]> {
    return (await this.rows("SELECT body FROM definitions ORDER BY name, created_at")).map(rowToDefinition);
  }

  async createRun(change: RunChange): Promise<RunRecord> {
    return this.tx(async (c) => {
      const run = { ...change.run, next_event_id: 0 };
      await c.query(RUN_INSERT, runToRow(run));
      return write(c, run, change.events, change.attempts);
    });
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    const rows = await this.rows("SELECT * FROM runs WHERE id = $1", [id]);
    return rows[0] ? rowToRun(rows[0]) : undefined;
  }

  async listRuns(query: RunQuery = {}): Promise<RunRecord[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (query.states?.length) {
      args.push(query.states);
      where.push(`state = ANY($${args.length})`);
    }
    if (query.workerId !== undefined) {
      args.push(query.workerId);
      where.push(`worker_id = $${args.length}`);
    }
    args.push(query.limit ?? 100);
    return (await this.rows(`SELECT * FROM runs ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq DESC LIMIT $${args.length}`, args)).map(rowToRun);
  }

  async updateRun(id: string, change: (run: RunRecord) => RunChange, options: { key?: string } = {}): Promise<RunRecord | undefined> {
    return this.tx(async (c) => {
      const rows = (await c.query("SELECT * FROM runs WHERE id = $1 FOR UPDATE", [id])).rows as Row[];
      if (!rows[0]) return undefined;
      const run = rowToRun(rows[0]);
      if (options.key !== undefined && (await c.query("SELECT 1 FROM run_events WHERE run_id = $1 AND client_key = $2", [id, options.key])).rowCount) return run;
      const ch = change(run);
      return write(c, ch.run, keyFirst(ch.events, options.key), ch.attempts);
    });
  }

  async listEvents(runId: string, after = -1): Promise<EventRecord[]> {
    return (await this.rows("SELECT * FROM run_events WHERE run_id = $1 AND id > $2 ORDER BY id", [runId, after])).map(rowToEvent);
  }

  async listAttempts(runId: string): Promise<AttemptRecord[]> {
    return (await this.rows("SELECT * FROM run_attempts WHERE run_id = $1 ORDER BY number", [runId])).map(rowToAttempt);
  }

  async putWorker(worker: WorkerRecord): Promise<WorkerRecord> {
    await this.pool.query(
      "INSERT INTO workers (worker_id, resources, tags, running_ops, status, last_heartbeat, protocol) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (worker_id) DO UPDATE SET resources = excluded.resources, tags = excluded.tags, running_ops = excluded.running_ops, status = excluded.status, last_heartbeat = excluded.last_heartbeat, protocol = excluded.protocol",
      workerToRow(worker),
    );
    return worker;
  }

  async getWorker(id: string): Promise<WorkerRecord | undefined> {
    const rows = await this.rows("SELECT * FROM workers WHERE worker_id = $1", [id]);
    return rows[0] ? rowToWorker(rows[0]) : undefined;
  }

  async listWorkers(): Promise<WorkerRecord[]> {
    return (await this.rows("SELECT * FROM workers ORDER BY worker_id")).map(rowToWorker);
  }

  async claim(workerId: string, now: number, plan: ClaimPlanner): Promise<RunRecord[] | undefined> {
    return this.tx(async (c) => {
      const w = (await c.query("UPDATE workers SET status = 'online', last_heartbeat = $2 WHERE worker_id = $1 RETURNING *", [workerId, now])).rows as Row[];
      if (!w[0]) return undefined;
      const worker = rowToWorker(w[0]);
      const held = ((await c.query("SELECT * FROM runs WHERE worker_id = $1 AND state IN ('ASSIGNED', 'RUNNING')", [workerId])).rows as Row[]).map(rowToRun);
      // The queue is locked a page at a time: a claim for one run locks a few rows, not the whole
      // scan window (locking and reading 200 rows per claim cost ~15 ms of the server's CPU per
      // run in bench/registry.bench.ts). When the planner walks past the end of a full page it
      // wants more: the next, larger page is read (rows this claim already locked come back too)
      // and the planner, being pure, plans again from the start.
      let pageSize = FIRST_PAGE;
      let changes: RunChange[];
      for (;;) {
        const page = ((await c.query(`SELECT * FROM runs WHERE state = 'PENDING' ORDER BY priority DESC, seq LIMIT $1 FOR UPDATE SKIP LOCKED`, [pageSize])).rows as Row[]).map(rowToRun);
        let wantedMore = false;
        const walk = function* (): Generator<RunRecord> {
          yield* page;
          wantedMore = true;
        };
        changes = plan(worker, held, walk());
        if (!wantedMore || page.length < pageSize || pageSize >= QUEUE_SCAN) break;
        pageSize = Math.min(QUEUE_SCAN, pageSize * 5);
      }
      const out: RunRecord[] = [];
      for (const ch of changes) out.push(await write(c, ch.run, ch.events, ch.attempts));
      return out;
    });
  }

  async expireWorkers(cutoff: number, lose: (run: RunRecord) => RunChange): Promise<string[]> {
    const stale = await this.rows("SELECT worker_id FROM workers WHERE status = 'online' AND last_heartbeat < $1", [cutoff]);
    const out: string[] = [];
    for (const s of stale) {
      const expired = await this.tx(async (c) => {
        // Re-checked under the row lock: the worker may have come back, or another server expired it.
        const w = await c.query("UPDATE workers SET status = 'offline' WHERE worker_id = $1 AND status = 'online' AND last_heartbeat < $2 RETURNING worker_id", [s.worker_id, cutoff]);
        if (!w.rowCount) return false;
        const held = (await c.query("SELECT * FROM runs WHERE worker_id = $1 AND state IN ('ASSIGNED', 'RUNNING') FOR UPDATE", [s.worker_id])).rows as Row[];
        for (const row of held) {
          const ch = lose(rowToRun(row));
          await write(c, ch.run, ch.events, ch.attempts);
        }
        return true;
      });
      if (expired) out.push(String(s.worker_id));
    }
    return out;
  }

  async webhookBacklog(limit: number): Promise<RunRecord[]> {
    return (await this.rows("SELECT * FROM runs WHERE webhook_url IS NOT NULL AND webhook_cursor < next_event_id - 1 ORDER BY seq LIMIT $1", [limit])).map(rowToRun);
  }

  async advanceWebhook(runId: string, cursor: number): Promise<void> {
    await this.pool.query("UPDATE runs SET webhook_cursor = $1 WHERE id = $2 AND webhook_cursor < $1", [cursor, runId]);
  }

  async leaseWebhook(runId: string, owner: string, now: number, ms: number): Promise<boolean> {
    const r = await this.pool.query(
      "UPDATE runs SET webhook_owner = $1, webhook_lease_until = $2 WHERE id = $3 AND (webhook_owner IS NULL OR webhook_owner = $1 OR webhook_lease_until < $4)",
      [owner, now + ms, runId, now],
    );
    return (r.rowCount ?? 0) > 0;
  }
}

async function write(c: Client, run: RunRecord, events: NewEvent[], attempts: AttemptRecord[] | undefined): Promise<RunRecord> {
  let next = run.next_event_id;
  for (const e of events) {
    await c.query("INSERT INTO run_events (run_id, id, type, t, msg, state, payload, client_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", [
      run.id, next++, e.type, e.t, JSON.stringify(e.msg), e.state, toJson(e.payload), e.key ?? null,
    ]);
  }
  const out = { ...run, next_event_id: next };
  await c.query(RUN_UPDATE, [out.id, ...runMutableRow(out)]);
  for (const a of attempts ?? []) {
    await c.query(
      "INSERT INTO run_attempts (run_id, number, worker_id, state, started_at, ended_at, error_message) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (run_id, number) DO UPDATE SET worker_id = excluded.worker_id, state = excluded.state, started_at = COALESCE(excluded.started_at, run_attempts.started_at), ended_at = excluded.ended_at, error_message = excluded.error_message",
      [run.id, a.number, a.worker_id, a.state, a.started_at, a.ended_at, a.error_message],
    );
  }
  return out;
}

async function migrate(c: Client): Promise<void> {
  await c.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK]);
  try {
    await c.query("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)");
    const current = Number((await c.query("SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations")).rows[0].v);
    if (current > LATEST_VERSION) throw new TubularError("TUBULAR_ERR_STORE", `the database has schema version ${current}, newer than this tubular knows (${LATEST_VERSION}); upgrade tubular`);
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      await c.query("BEGIN");
      try {
        await c.query(m.postgres);
        await c.query("INSERT INTO schema_migrations (version, description, applied_at) VALUES ($1, $2, $3)", [m.version, m.description, Date.now()]);
        await c.query("COMMIT");
      } catch (err) {
        await c.query("ROLLBACK");
        throw err;
      }
    }
  } finally {
    await c.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK]);
  }
}

/** The connection string without its password, for messages. */
export function redact(url: string): string {
  return url.replace(/(\/\/[^:/@]+):[^@]*@/, "$1:***@");
}
