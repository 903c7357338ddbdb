/**
 * Opens the store a `--db` value names: `postgres://` or `postgresql://` for
 * PostgreSQL, anything else is a SQLite file path. Each driver is imported
 * only when used, so commands that never open a store (every one but
 * `tubular serve`) do not pay for loading them.
 */
import type { Store } from "./store.ts";

export async function openStore(db: string, options: { schema?: string } = {}): Promise<Store> {
  if (/^postgres(ql)?:\/\//.test(db)) {
    const { PostgresStore } = await import("./postgres.ts");
    return PostgresStore.open({ connectionString: db, ...(options.schema ? { schema: options.schema } : {}) });
  }
  const { SqliteStore } = await import("./sqlite.ts");
  return SqliteStore.open(db);
}
