/**
 * A connection of the pool held for a piece of work, and one PostgreSQL
 * transaction on it, for every part of the PostgreSQL store (registry,
 * tracking, migrations).
 *
 * While work holds a connection, the pool's error listener is off it
 * (pg-pool listens only on idle connections): a connection the server ends
 * then (a restart, pg_terminate_backend) emitted `error` with no listener,
 * and that crashed the whole process. Here that error is kept: the work's
 * next query fails, and the connection is destroyed rather than handed back.
 */
import type pg from "pg";

/** Runs `work` on a connection of `pool`; `discard` marks the connection as not to be reused. */
export async function withConnection<T>(pool: pg.Pool, work: (c: pg.PoolClient, discard: (err: Error) => void) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  let broken: Error | undefined;
  const discard = (err: Error): void => {
    broken ??= err;
  };
  c.on("error", discard);
  try {
    return await work(c, discard);
  } finally {
    c.removeListener("error", discard);
    c.release(broken);
  }
}

/**
 * BEGIN, the work, COMMIT; on any failure ROLLBACK and the work's own error.
 * A connection whose ROLLBACK failed is not reused either: its state is
 * unknown (an open, aborted transaction would fail the next user's every query).
 */
export function transaction<T>(pool: pg.Pool, work: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  return withConnection(pool, async (c, discard) => {
    try {
      await c.query("BEGIN");
      const out = await work(c);
      await c.query("COMMIT");
      return out;
    } catch (err) {
      await c.query("ROLLBACK").catch(discard);
      throw err;
    }
  });
}
