/**
 * IdlePoll: when to try the next read of a socket that cannot be waited on.
 *
 * zeromq.js waits for a thread-safe (draft) socket, SERVER or CLIENT, on the
 * file descriptor of a zmq_poller it never calls zmq_poller_wait on, so once
 * the socket has seen any activity that descriptor stays readable and a
 * pending `receive()` spins the event loop. Measured on this machine: an idle
 * SERVER/CLIENT pair with a read pending on each burns 0.84 s of CPU per 2 s
 * (0.9 s with one read pending, 1 ms with none), and chain3 with one process
 * per node (four such processes on two cores) went from `process()` p50
 * 0.70 ms to 11.7 ms. So a read loop on these sockets never leaves a read
 * pending: it reads with a zero timeout (EAGAIN when nothing is queued) and,
 * when nothing came, waits `next()` before it tries again, 1 ms doubling to
 * `maxMs`. A message received or sent (a reply may follow) starts over at
 * 1 ms. The control channel carries handshakes, heartbeats, status and errors,
 * never an epoch's data, so a control message waits at most `maxMs` more.
 */
export const IDLE_POLL_MAX_MS = 32;

export class IdlePoll {
  private delayMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private wakeWaiter: (() => void) | undefined;

  constructor(private readonly maxMs = IDLE_POLL_MAX_MS) {}

  /** Something arrived or was sent: the next reads come soon. Ends a wait in progress. */
  wake(): void {
    this.delayMs = 0;
    if (this.timer && this.wakeWaiter) {
      clearTimeout(this.timer);
      this.timer = undefined;
      const resolve = this.wakeWaiter;
      this.wakeWaiter = undefined;
      resolve();
    }
  }

  /** Waits before the next read after an empty one: 1 ms, then twice as long each time, at most `maxMs`. */
  next(): Promise<void> {
    this.delayMs = Math.min(this.maxMs, Math.max(1, this.delayMs * 2));
    return new Promise((resolve) => {
      this.wakeWaiter = resolve;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.wakeWaiter = undefined;
        resolve();
      }, this.delayMs);
    });
  }

  /** Ends a wait in progress (on close). */
  stop(): void {
    this.wake();
  }
}
