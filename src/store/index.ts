/** The store: one interface, SQLite and PostgreSQL implementations. */
export { openStore } from "./open.ts";
export { PostgresStore, type PostgresStoreOptions } from "./postgres.ts";
export { SqliteStore } from "./sqlite.ts";
export type { ClaimPlanner, RunQuery, Store } from "./store.ts";
export * from "./records.ts";
