/**
 * A send queue in front of a zeromq.js socket. zeromq.js allows one blocked
 * `send` at a time (a second one throws EBUSY) but resolves a send at once
 * whenever libzmq can queue it. So: send directly while the socket accepts;
 * when it throws EBUSY (high water mark reached, or zeromq.js yielding to the
 * event loop), keep frames in order in a JS queue and drain it once the
 * pending send resolves. No `await` per message on the fast path.
 */
type Frames = Array<Buffer | string>;

interface WritableSocket {
  send(frames: Frames): Promise<void>;
}

const noop = () => {};

export class SendQueue {
  private readonly queue: Frames[] = [];
  private head = 0;
  private last: Promise<void> | undefined;
  private draining = false;
  private drainWaiters: Array<() => void> = [];
  private readonly onError: (err: unknown) => void;

  /**
   * @param socket the socket to send on
   * @param onError called when a send fails (socket closed, unroutable peer); the frames are dropped
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
   * for `drained()`; the frames are still queued.
   */
  send(frames: Frames): boolean {
    if (this.queued === 0 && this.trySend(frames)) return true;
    this.queue.push(frames);
    if (!this.draining) void this.drain();
    return this.queued < this.highWaterMark;
  }

  /** Resolves when the JS queue is empty and the last send was handed to libzmq. */
  async drained(): Promise<void> {
    if (this.queued > 0 || this.draining) await new Promise<void>((r) => this.drainWaiters.push(r));
    await this.last?.catch(noop);
  }

  /** Drops what is still queued (on close). */
  clear(): void {
    this.queue.length = 0;
    this.head = 0;
  }

  /** true when sent (or failed for good), false on EBUSY. */
  private trySend(frames: Frames): boolean {
    let p: Promise<void>;
    try {
      p = this.socket.send(frames);
    } catch (err) {
      if ((err as { code?: string }).code === "EBUSY") return false;
      this.onError(err);
      return true;
    }
    p.catch(this.onError);
    this.last = p;
    return true;
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queued > 0) {
        await this.last?.catch(noop);
        while (this.queued > 0) {
          if (!this.trySend(this.queue[this.head] as Frames)) break;
          this.queue[this.head++] = undefined as unknown as Frames;
        }
        if (this.head > 1024 && this.head * 2 > this.queue.length) {
          this.queue.splice(0, this.head);
          this.head = 0;
        }
        // When EBUSY came from zeromq.js yielding (no pending send of ours), give the loop a turn.
        if (this.queued > 0) await new Promise((r) => setImmediate(r));
      }
      this.queue.length = 0;
      this.head = 0;
    } finally {
      this.draining = false;
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of waiters) w();
    }
  }
}
