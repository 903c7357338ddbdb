/**
 * store - the PostgreSQL transaction both parts of the PostgreSQL store use
 * (src/store/pg-transaction.ts), against a real server (TUBULAR_TEST_PG, in a
 * schema of its own): what commits, what rolls back, and a connection killed
 * by the server in the middle of a transaction (a restart, an administrator)
 * fails that transaction only: the process goes on and the pool's next
 * transaction gets a working connection. The same for a connection held
 * outside a transaction (the store's start-up migrations hold one).
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { transaction, withConnection } from "../../src/store/pg-transaction.ts";
import { IN_CI, PG_URL } from "./registry-stores.ts";

const skip = !PG_URL && !IN_CI;
const title = skip ? "store - pg transaction (skipped: TUBULAR_TEST_PG is not set and CI is not true)" : "store - pg transaction";

describe.skipIf(skip)(title, () => {
  const schema = `t_${randomBytes(6).toString("hex")}`;
  let pool: pg.Pool;
  let admin: pg.Client;

  beforeAll(async () => {
    if (!PG_URL) throw new Error("TUBULAR_TEST_PG is not set: PostgreSQL is required under CI (see .ci/postgres.sh)");
    admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.query(`CREATE TABLE ${schema}.items (v INT)`);
    // One connection: a connection the transaction failed to hand back would stall the next one.
    pool = new pg.Pool({ connectionString: PG_URL, max: 1, options: `-c search_path=${schema}` });
    pool.on("error", () => undefined);
  });

  afterAll(async () => {
    await pool?.end();
    await admin?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin?.end();
  });

  const values = async () => (await admin.query(`SELECT v FROM ${schema}.items ORDER BY v`)).rows.map((r) => r.v as number);

  it("commits the work and returns its result", async () => {
    const out = await transaction(pool, async (c) => {
      await c.query("INSERT INTO items VALUES (1), (2)");
      return "done";
    });
    expect(out).toBe("done");
    expect(await values()).toEqual([1, 2]);
  });

  it("rolls the work back and rethrows its own error; the connection goes back to the pool", async () => {
    const boom = new Error("boom");
    await expect(
      transaction(pool, async (c) => {
        await c.query("INSERT INTO items VALUES (3)");
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(await values()).toEqual([1, 2]);
    expect(await transaction(pool, async (c) => (await c.query("SELECT count(*)::int AS n FROM items")).rows[0].n)).toBe(2);
  });

  it("a connection the server kills mid-transaction fails that transaction, crashes nothing, and is not reused", async () => {
    const failed = transaction(pool, async (c) => {
      await c.query("INSERT INTO items VALUES (4)");
      const pid = (await c.query("SELECT pg_backend_pid() AS pid")).rows[0].pid as number;
      const ended = new Promise<void>((resolve) => c.once("end", () => resolve()));
      // Killed while the transaction holds the connection between two queries.
      await admin.query("SELECT pg_terminate_backend($1)", [pid]);
      await Promise.race([ended, new Promise((_, reject) => setTimeout(() => reject(new Error("the connection did not end in 10 s")), 10_000))]);
      await c.query("INSERT INTO items VALUES (5)");
    });
    await expect(failed).rejects.toThrow(/terminat|not queryable/i);
    expect(await values()).toEqual([1, 2]);
    // max 1: this gets the pool's only connection, which must be a new one.
    const pid = await transaction(pool, async (c) => (await c.query("SELECT pg_backend_pid() AS pid")).rows[0].pid as number);
    expect(typeof pid).toBe("number");
  });

  it("a held connection the server kills fails that work only, and is not reused", async () => {
    let killed = 0;
    const failed = withConnection(pool, async (c) => {
      killed = (await c.query("SELECT pg_backend_pid() AS pid")).rows[0].pid as number;
      const ended = new Promise<void>((resolve) => c.once("end", () => resolve()));
      await admin.query("SELECT pg_terminate_backend($1)", [killed]);
      await Promise.race([ended, new Promise((_, reject) => setTimeout(() => reject(new Error("the connection did not end in 10 s")), 10_000))]);
      await c.query("SELECT 1");
    });
    await expect(failed).rejects.toThrow(/terminat|not queryable/i);
    const pid = await withConnection(pool, async (c) => (await c.query("SELECT pg_backend_pid() AS pid")).rows[0].pid as number);
    expect(pid).not.toBe(killed);
  });
});
