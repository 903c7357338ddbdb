/**
 * Opens the store a `--db` value names: `postgres://` or `postgresql://` for
 * PostgreSQL, anything else is a SQLite file path.
 */
import { PostgresStore } from "./postgres.ts";
import { SqliteStore } from "./sqlite.ts";
import type { Store } from "./store.ts";

export async function openStore(db: string, options: { schema?: string } = {}): Promise<Store> {
  if (/^postgres(ql)?:\/\//.test(db)) return PostgresStore.open({ connectionString: db, ...(options.schema ? { schema: options.schema } : {}) });
  return SqliteStore.open(db);
}
