/** Source nodes: they take no slots and emit once per epoch (or, for sporadic, now and then). */
import { z } from "zod";
import { defineNode } from "../src/node/define.ts";
import { NoEvent } from "../src/node/definition.ts";

/** `index` = start + step * k on its k-th run. */
export const count = defineNode({
  signals: ["index"],
  init: (params) => ({ next: Number(params.start ?? 0), step: Number(params.step ?? 1) }),
  process: (_inputs, { state }) => {
    const index = state.next;
    state.next += state.step;
    return index;
  },
});

function valuesParam(params: Record<string, unknown>, node: string): unknown[] {
  const values = params.values;
  if (!Array.isArray(values) || values.length === 0) throw new TypeError(`${node}: params.values must be a non-empty list`);
  return values;
}

/** `value` = values[k mod len] on its k-th run. */
export const cycle = defineNode({
  init: (params) => ({ values: valuesParam(params, "cycle"), k: 0 }),
  process: (_inputs, { state }) => state.values[state.k++ % state.values.length],
});

/** On runs k with (k+1) % every == 0, emits the next of `values` (cycling); otherwise nothing. */
export const sporadic = defineNode({
  init: (params) => ({
    values: valuesParam(params, "sporadic"),
    every: z.number().int().positive().parse(params.every ?? 1),
    k: 0,
    emitted: 0,
  }),
  process: (_inputs, { state }) => {
    const k = state.k++;
    if ((k + 1) % state.every !== 0) return NoEvent;
    return state.values[state.emitted++ % state.values.length];
  },
});
