/** The store: one interface, SQLite and PostgreSQL implementations (loaded when opened). */
export { openStore } from "./open.ts";
export type { ClaimPlanner, RunQuery, Store } from "./store.ts";
export * from "./records.ts";
export type { TrackedRunQuery, TrackingStore } from "./tracking-store.ts";
export * from "./tracking-records.ts";
