/**
 * One PostgreSQL transaction on a connection of the pool, for both parts of
 * the PostgreSQL store (registry and tracking): BEGIN, the work, COMMIT; on
 * any failure ROLLBACK and the work's own error.
 *
 * While the transaction holds its connection, the pool's error listener is
 * off it (pg-pool listens only on idle connections): a connection the server
 * ends then (a restart, pg_terminate_backend) emits `error` with no listener,
 * and that crashed the whole process. Here that error is kept: the work's
 * next query fails, and the connection is destroyed rather than handed back,
 * as is one whose ROLLBACK failed (its state is unknown: an open, aborted
 * transaction would fail the next user's every query).
 */
import type pg from "pg";

export async function transaction<T>(pool: pg.Pool, work: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  let broken: Error | undefined;
  const onError = (err: Error): void => {
    broken ??= err;
  };
  c.on("error", onError);
  try {
    await c.query("BEGIN");
    const out = await work(c);
    await c.query("COMMIT");
    return out;
  } catch (err) {
    await c.query("ROLLBACK").catch((e: Error) => (broken ??= e));
    throw err;
  } finally {
    c.removeListener("error", onError);
    c.release(broken);
  }
}
