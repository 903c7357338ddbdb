/**
 * EpochLedger: the one place that knows which root epochs a runner has open,
 * who waits for each, and the first error each has met. Pure: no sockets, no
 * clocks. The window of free-run is `inFlight` here; the scheduler knows what
 * ran inside an epoch, the ledger only what the caller is owed for it.
 */
import type { NodeError } from "../errors.ts";

/** A caller waiting for one epoch's value. */
export interface Waiter {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

/** What the ledger held for an epoch when it was closed. */
export interface ClosedEpoch {
  waiter: Waiter | undefined;
  /** The first error any node met in the epoch. */
  error: NodeError | undefined;
}

export class EpochLedger {
  private readonly epochs = new Map<number, ClosedEpoch>();
  private ended = 0;

  /** Opens a root epoch; `waiter` when a caller waits for its value (process()), none in free-run. */
  open(epoch: number, waiter?: Waiter): void {
    if (this.epochs.has(epoch)) throw new RangeError(`epoch ${epoch} is already open`);
    this.epochs.set(epoch, { waiter, error: undefined });
  }

  isOpen(epoch: number): boolean {
    return this.epochs.has(epoch);
  }

  /** Root epochs open now: the free-run window counts these. */
  get inFlight(): number {
    return this.epochs.size;
  }

  /** Epochs that ended through `close` (not those given up). */
  get completed(): number {
    return this.ended;
  }

  /** Open root epochs, oldest first. */
  openEpochs(): number[] {
    return [...this.epochs.keys()].sort((a, b) => a - b);
  }

  /** Records a node's error in an open epoch; the first one is the epoch's error. False when the epoch is not open. */
  fail(epoch: number, err: NodeError): boolean {
    const entry = this.epochs.get(epoch);
    if (!entry) return false;
    entry.error ??= err;
    return true;
  }

  /** The epoch ended: what was held for it, or undefined when it was not open (given up before). */
  close(epoch: number): ClosedEpoch | undefined {
    const entry = this.epochs.get(epoch);
    if (!entry) return undefined;
    this.epochs.delete(epoch);
    this.ended++;
    return entry;
  }

  /** Gives up one epoch without it counting as ended (its runner died). */
  giveUp(epoch: number): ClosedEpoch | undefined {
    const entry = this.epochs.get(epoch);
    this.epochs.delete(epoch);
    return entry;
  }

  /** Gives up every open epoch; returns their waiters. */
  giveUpAll(): Waiter[] {
    const waiters: Waiter[] = [];
    for (const e of this.epochs.values()) if (e.waiter) waiters.push(e.waiter);
    this.epochs.clear();
    return waiters;
  }
}
