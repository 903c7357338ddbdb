/**
 * Conditions: waiting until something holds about the run (every runner
 * identified, every node ready, a restarted runner back), re-checked whenever
 * the run changes, with a deadline, and failing at once when the run fails.
 */
import { TubularError } from "../../errors.ts";

interface Waiter {
  ready: () => boolean;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class Conditions {
  private waiters: Waiter[] = [];

  /** `failure()` is the run's fatal error, if it has one: every wait then fails with it. */
  constructor(private readonly failure: () => Error | undefined) {}

  /**
   * Resolves when `ready()` holds; rejects at the deadline with
   * TUBULAR_ERR_RUNNER_TIMEOUT ("`what` timed out: `describe()`"), or with the
   * run's failure. `alsoWake` re-checks when it settles.
   */
  until(what: string, ready: () => boolean, deadline: number, describe: () => string, alsoWake?: Promise<unknown>): Promise<void> {
    const failed = this.failure();
    if (failed) return Promise.reject(failed);
    if (ready()) return Promise.resolve();
    void alsoWake?.then(() => this.changed());
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new TubularError("TUBULAR_ERR_RUNNER_TIMEOUT", `${what} timed out: ${describe()}`));
      }, Math.max(0, deadline - Date.now()));
      const waiter: Waiter = {
        ready,
        resolve: () => (clearTimeout(timer), resolve()),
        reject: (err) => (clearTimeout(timer), reject(err)),
      };
      this.waiters.push(waiter);
    });
  }

  /** Something changed: settle the waits that now hold (or fail them all, if the run failed). */
  changed(): void {
    const failed = this.failure();
    this.waiters = this.waiters.filter((w) => {
      if (failed) w.reject(failed);
      else if (w.ready()) w.resolve();
      else return true;
      return false;
    });
  }
}
