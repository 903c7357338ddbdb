/**
 * Custom nodes, in TypeScript, used by examples/custom-node.yaml. The graph
 * names them as "./custom-node.ts#<export>"; the CLI loads TypeScript itself,
 * no build step needed. Four forms, from most to least declared:
 */
import { z } from "zod";
import { defineNode, NoEvent } from "tubular";

/** 1. defineNode: typed, validated slots (zod) and named signals; state built once by init. */
export const stats = defineNode({
  slots: {
    value: z.number(),
    // An optional slot: a default, so the node runs without an event on it.
    window: z.number().int().positive().default(3),
  },
  signals: ["mean", "max"],
  init: () => ({ recent: [] as number[] }),
  process: ({ value, window }, { state }) => {
    state.recent.push(value);
    if (state.recent.length > window) state.recent.shift();
    const mean = state.recent.reduce((a, b) => a + b, 0) / state.recent.length;
    return { mean, max: Math.max(...state.recent) };
  },
});

/** 2. A plain function: takes an object of its slots (and params), returns the one signal, `value`. */
export function label({ mean, max }: { mean: number; max: number }): string {
  return `mean ${mean.toFixed(2)}, max ${max}`;
}

/** 3. A generator function: a source, one yielded value per epoch (params as its argument). */
export function* squares({ from = 1 }: { from?: number }) {
  for (let i = Number(from); ; i++) yield i * i;
}

/**
 * 4. A class with init / process / deinit; static `slots` and `signals` name them.
 * Emits only every second epoch: NoEvent means "no event in this epoch".
 */
export class EveryOther {
  static slots = ["value"];
  static signals = ["value"];
  private seen = 0;
  init(): void {
    this.seen = 0;
  }
  process({ value }: { value: string }): string | typeof NoEvent {
    return this.seen++ % 2 === 0 ? value : NoEvent;
  }
  deinit(): void {}
}
