/**
 * The SQLite store's WAL checkpoints, on a thread of their own. SQLite's
 * automatic checkpoint runs in the committing connection, on the thread that
 * answers HTTP: every 1,000 WAL pages a commit also copied them into the
 * database file and fsynced it, and the event loop waited. Here a second
 * connection on a worker thread checkpoints (PASSIVE: never blocks a writer)
 * every `intervalMs`, on the other core; the store's own connection keeps an
 * automatic checkpoint only as a backstop (`BACKSTOP_PAGES`), which then
 * finds little left to copy and lets the WAL start over.
 *
 * Measured (`npx tsx bench/registry.bench.ts --runs 100 --events 1000`, four
 * alternating pairs, automatic checkpoints on the answering thread vs none
 * there): 3,664-4,262 -> 4,233-5,813 events/s, p99 29-35 -> 21-24 ms.
 *
 * Durability is unchanged: a commit is in the WAL before it is answered,
 * whoever later copies it into the database file.
 */
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

/** WAL pages after which the store's own connection checkpoints anyway (40 MB of 4 KiB pages). */
export const BACKSTOP_PAGES = 10_000;

/**
 * The thread's code. Plain CommonJS run with `eval`, so it needs no loader
 * for TypeScript sources (tests run the store from source) and no separate file
 * to ship; better-sqlite3 comes from the path the store itself resolved.
 */
const THREAD = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma("busy_timeout = 5000");
const checkpoint = () => {
  try {
    db.pragma("wal_checkpoint(PASSIVE)");
  } catch (err) {
    // SQLITE_BUSY and the like: the next round tries again; the backstop holds the WAL's size.
  }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on("message", () => {
  clearInterval(timer);
  checkpoint();
  db.close();
  parentPort.close();
});
`;

export class SqliteCheckpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;

  constructor(file: string, intervalMs = 100) {
    const driver = createRequire(import.meta.url).resolve("better-sqlite3");
    this.worker = new Worker(THREAD, { eval: true, workerData: { file, driver, intervalMs }, stdout: false, stderr: false });
    // The store's connection does not need the thread to live: a checkpoint missed is done by the backstop.
    this.worker.unref();
    this.worker.on("error", () => undefined);
    this.exited = new Promise((resolve) => this.worker.once("exit", () => resolve()));
  }

  /** A last checkpoint, the thread's connection closed, the thread ended. */
  async stop(): Promise<void> {
    // Held again while it ends: an unreferenced thread awaited with nothing else to do let the process exit mid-close.
    this.worker.ref();
    this.worker.postMessage("stop");
    await this.exited;
  }
}
