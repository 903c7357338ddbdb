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
 *
 * "Uninterrupted" is proven by a probe timer, armed at each turn: when it
 * fires, the timers phase ran, and the budget starts over. Counting from the
 * last wait instead made every read loop hold one message back by a timer tick
 * (1 ms or more) every 50 ms even when it was idle between messages: with
 * `process()` round trips of 0.3 ms through two such loops, about one call in
 * 80 paid it, which alone is chain3's p99.
 */
export class LoopTurn {
  private since = performance.now();
  private armed = true;
  private readonly probe: NodeJS.Timeout;

  constructor(private readonly budgetMs = 50) {
    this.probe = setTimeout(() => {
      this.armed = false;
      this.since = performance.now();
    }, 0);
    this.probe.unref();
  }

  /** Resolves at once, or after one timer tick when the loop has been busy for `budgetMs` without the timers running. */
  turn(): Promise<void> | undefined {
    if (!this.armed) {
      this.armed = true;
      this.probe.refresh();
    }
    if (performance.now() - this.since < this.budgetMs) return undefined;
    return new Promise((resolve) =>
      setTimeout(() => {
        this.since = performance.now();
        resolve();
      }, 0),
    );
  }

  /** Stops the probe (the loop ended). */
  close(): void {
    clearTimeout(this.probe);
  }
}
