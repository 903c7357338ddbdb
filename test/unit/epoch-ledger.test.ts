import { describe, expect, it } from "vitest";
import { NodeError } from "../../src/errors.ts";
import { EpochLedger, type Waiter } from "../../src/runner/epoch-ledger.ts";

const err = (node: string) => new NodeError("TUBULAR_ERR_NODE_FAILED", { nodeId: node, epoch: 0, errorType: "Error", errorMessage: node });
const waiter = () => {
  const seen: { value?: unknown; error?: Error } = {};
  const w: Waiter = { resolve: (v) => (seen.value = v), reject: (e) => (seen.error = e) };
  return { w, seen };
};

describe("epoch ledger", () => {
  it("epoch ledger - counts open epochs as the window and lists them oldest first", () => {
    const l = new EpochLedger();
    l.open(3);
    l.open(1);
    l.open(2);
    expect(l.inFlight).toBe(3);
    expect(l.openEpochs()).toEqual([1, 2, 3]);
    l.close(2);
    expect(l.inFlight).toBe(2);
    expect(l.openEpochs()).toEqual([1, 3]);
    expect(l.completed).toBe(1);
  });

  it("epoch ledger - refuses to open an epoch twice", () => {
    const l = new EpochLedger();
    l.open(0);
    expect(() => l.open(0)).toThrow(/already open/);
  });

  it("epoch ledger - keeps the first error of an epoch, and hands it over with the waiter on close", () => {
    const l = new EpochLedger();
    const { w } = waiter();
    l.open(0, w);
    expect(l.fail(0, err("a"))).toBe(true);
    expect(l.fail(0, err("b"))).toBe(true);
    const closed = l.close(0)!;
    expect(closed.waiter).toBe(w);
    expect(closed.error?.nodeId).toBe("a");
    expect(l.isOpen(0)).toBe(false);
  });

  it("epoch ledger - an error for an epoch that is not open is not recorded, and closing it again gives nothing", () => {
    const l = new EpochLedger();
    expect(l.fail(5, err("a"))).toBe(false);
    l.open(5);
    l.close(5);
    expect(l.close(5)).toBeUndefined();
    expect(l.fail(5, err("a"))).toBe(false);
    expect(l.completed).toBe(1);
  });

  it("epoch ledger - giving up epochs does not count them as completed and returns their waiters", () => {
    const l = new EpochLedger();
    const a = waiter();
    const b = waiter();
    l.open(0, a.w);
    l.open(1);
    l.open(2, b.w);
    expect(l.giveUp(1)?.waiter).toBeUndefined();
    expect(l.giveUpAll()).toEqual([a.w, b.w]);
    expect(l.inFlight).toBe(0);
    expect(l.completed).toBe(0);
  });
});
