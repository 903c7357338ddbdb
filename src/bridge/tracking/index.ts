/** Run tracking in `tubular serve`: the tracker over the store and its REST router. */
import type { Logger } from "pino";
import type { Store } from "../../store/store.ts";
import type { BridgeOptions } from "../server.ts";
import { Tracker } from "./tracker.ts";
import { JobTracking } from "./job-tracking.ts";
import { TrackingRouter } from "./router.ts";

export { Tracker, DEFAULT_NAMESPACE, processAlive, type StartRun } from "./tracker.ts";
export { TrackingRouter, TRACKING_PREFIX } from "./router.ts";
export { TrackingError } from "./tracking-error.ts";
export { JobTracking, JOBS_PROJECT, type TrackedJob } from "./job-tracking.ts";
export { randomRunName, slugify, uniqueRunName } from "./names.ts";
// plot.ts (vega, resvg) is not re-exported: it is loaded only when a plot is drawn, to keep start-up fast.

export interface TrackingServer {
  tracker: Tracker;
  /** The tracked runs of the job registry's runs; started, to be closed with the server. */
  jobs: JobTracking;
  router: TrackingRouter;
  httpHandler: NonNullable<BridgeOptions["httpHandler"]>;
}

/** Tracking over the job registry's store; runs this host's dead processes left RUNNING are marked FAILED first. */
export async function openTracking(store: Store, log: Logger): Promise<TrackingServer> {
  const tracker = new Tracker(store.tracking);
  const failed = await tracker.failOrphans();
  if (failed.length) log.warn({ runs: failed.map((r) => r.name) }, "tracked runs left RUNNING by processes that are gone are now FAILED");
  const router = new TrackingRouter(tracker, log.child({ component: "tracking" }));
  const jobs = new JobTracking(tracker, store, log.child({ component: "job-tracking" }));
  jobs.start();
  return { tracker, jobs, router, httpHandler: (req, res, keys) => router.handle(req, res, keys) };
}
