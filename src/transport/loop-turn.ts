/**
 * LoopTurn: lets timers run during a read loop that never waits. A ZeroMQ
 * socket with messages queued hands the next one over at once, so a
 * `for await` over a busy socket can run for seconds without the event loop
 * reaching its timers phase: a runner's heartbeat timer then never fires and
 * the command node declares it dead (measured: a 10-node graph packed into one
 * runner, free-running under load, was silent for 1.2 s while it handled 43
 * command messages; see docs/performance.md). A read loop calls `turn()` after
 * each message; after `budgetMs` of uninterrupted work it waits one timer tick
 * (setImmediate would not do: it resumes in the same loop iteration, before
 * the timers).
 */
export class LoopTurn {
  private since = performance.now();

  constructor(private readonly budgetMs = 50) {}

  /** Resolves at once, or after one timer tick when the loop has been busy for `budgetMs`. */
  turn(): Promise<void> | undefined {
    const now = performance.now();
    if (now - this.since < this.budgetMs) return undefined;
    return new Promise((resolve) =>
      setTimeout(() => {
        this.since = performance.now();
        resolve();
      }, 0),
    );
  }
}
