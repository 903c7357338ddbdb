/**
 * The stores the registry tests run against: a SQLite file in a fresh
 * folder, and PostgreSQL (TUBULAR_TEST_PG, e.g.
 * postgres://tubular:tubular@127.0.0.1:5432/tubular_test) in a schema of its
 * own per test, dropped afterwards. Under CI (CI=true) a missing PostgreSQL
 * fails the suite; elsewhere the PostgreSQL half is skipped, saying why in
 * its title.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { openStore } from "../../src/store/open.ts";
import type { Store } from "../../src/store/store.ts";

export const PG_URL = process.env.TUBULAR_TEST_PG;
export const IN_CI = process.env.CI === "true" || process.env.CI === "1";

export interface StoreTarget {
  /** "sqlite" or "postgres" */
  kind: "sqlite" | "postgres";
  /** The --db value for `tubular serve` (file path or URL). */
  db: string;
  /** PostgreSQL: the schema the tables go in. */
  schema?: string;
  open(): Promise<Store>;
  cleanup(): Promise<void>;
}

export async function sqliteTarget(): Promise<StoreTarget> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "tubular-store-"));
  const db = path.join(dir, "registry.db");
  return { kind: "sqlite", db, open: () => openStore(db), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function postgresTarget(): Promise<StoreTarget> {
  if (!PG_URL) throw new Error("TUBULAR_TEST_PG is not set: PostgreSQL is required under CI (see .ci/postgres.sh)");
  const schema = `t_${randomBytes(6).toString("hex")}`;
  return {
    kind: "postgres",
    db: PG_URL,
    schema,
    open: () => openStore(PG_URL, { schema }),
    async cleanup() {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      try {
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await c.end();
      }
    },
  };
}

/** The store kinds to run a suite against, with the title suffix saying when one is skipped. */
export const STORE_KINDS: Array<{ kind: "sqlite" | "postgres"; title: string; skip: boolean; target: () => Promise<StoreTarget> }> = [
  { kind: "sqlite", title: "sqlite", skip: false, target: sqliteTarget },
  {
    kind: "postgres",
    title: PG_URL || IN_CI ? "postgres" : "postgres (skipped: TUBULAR_TEST_PG is not set and CI is not true)",
    skip: !PG_URL && !IN_CI,
    target: postgresTarget,
  },
];
