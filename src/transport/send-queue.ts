/**
 * A send queue in front of a zeromq.js socket, which allows one send in
 * progress at a time (a second one throws EBUSY).
 *
 * Messages go out in order, one `socket.send` after the previous one's
 * promise settled. When the socket is idle a message is handed to libzmq at
 * once; while a send is in progress, new messages wait in a JS array and are
 * chained from the previous send's settlement (a microtask, not an event-loop
 * turn), so a burst costs no timer or `await` in the caller.
 *
 * Sends rejected with EAGAIN are retried, in order, with a short backoff:
 * PUB/XPUB with ZMQ_XPUB_NODROP report "writable" even at their high water
 * mark, so zeromq.js tries the send and rejects it with EAGAIN instead of
 * waiting. Retrying is what turns the high water mark into backpressure
 * instead of loss. Other errors drop the message and go to `onError`.
 */
type Frames = Array<Buffer | string>;

interface WritableSocket {
  send(frames: Frames): Promise<void>;
  readonly closed?: boolean;
}

const MAX_BACKOFF_MS = 16;

export class SendQueue {
  private queue: Frames[] = [];
  private head = 0;
  private busy = false;
  private retries = 0;
  private drainWaiters: Array<() => void> = [];
  private readonly onError: (err: unknown) => void;
  private readonly sent = () => {
    this.retries = 0;
    this.next();
  };

  /**
   * @param socket the socket to send on
   * @param onError called when a send fails for good (socket closed, unroutable peer); the message is dropped
   * @param highWaterMark `send` returns false once this many messages wait in the JS queue (the caller should slow down)
   */
  constructor(
    private readonly socket: WritableSocket,
    onError: (err: unknown) => void,
    readonly highWaterMark = 10_000,
  ) {
    this.onError = onError;
  }

  /** Messages waiting in the JS queue (not yet handed to libzmq). */
  get queued(): number {
    return this.queue.length - this.head;
  }

  /**
   * Sends or queues `frames`, in order. Returns false when the queue holds
   * `highWaterMark` messages or more: like a stream's `write`, a hint to wait
   * for `drained()`; the frames are queued all the same.
   */
  send(frames: Frames): boolean {
    if (!this.busy) {
      this.dispatch(frames);
      return true;
    }
    this.queue.push(frames);
    return this.queued < this.highWaterMark;
  }

  /** Resolves when every message sent so far has been handed to libzmq (or failed). */
  drained(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise<void>((r) => this.drainWaiters.push(r));
  }

  /** Drops what is still queued (on close). */
  clear(): void {
    this.queue = [];
    this.head = 0;
  }

  private dispatch(frames: Frames): void {
    this.busy = true;
    let p: Promise<void>;
    try {
      p = this.socket.send(frames);
    } catch (err) {
      this.failed(err, frames);
      return;
    }
    p.then(this.sent, (err: unknown) => this.failed(err, frames));
  }

  private next(): void {
    if (this.head < this.queue.length) {
      const frames = this.queue[this.head] as Frames;
      this.queue[this.head++] = undefined as unknown as Frames;
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      this.dispatch(frames);
      return;
    }
    this.queue.length = 0;
    this.head = 0;
    this.busy = false;
    if (this.drainWaiters.length > 0) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of waiters) w();
    }
  }

  private failed(err: unknown, frames: Frames): void {
    const code = (err as { code?: string }).code;
    if ((code === "EAGAIN" || code === "EBUSY") && !this.socket.closed) {
      // Full: try the same message again shortly, keeping its place.
      const delay = Math.min(MAX_BACKOFF_MS, this.retries === 0 ? 0 : 1 << Math.min(4, this.retries - 1));
      this.retries++;
      const retry = () => this.dispatch(frames);
      if (delay === 0) setImmediate(retry);
      else setTimeout(retry, delay);
      return;
    }
    this.onError(err);
    this.next();
  }
}
