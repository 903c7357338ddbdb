/** Node types used only by the benchmarks. */
import { z } from "zod";
import { defineNode } from "../src/node/define.ts";

/** A source of one `size`-byte Buffer per epoch. */
export const bytes = defineNode({
  init: (params) => ({ size: Number(params.size ?? 1 << 20), k: 0 }),
  process: (_inputs, { state }) => Buffer.alloc(state.size, state.k++ & 0xff),
});

/** The length of the Buffer it gets. */
export const length = defineNode({
  slots: { value: z.instanceof(Buffer) },
  stateful: false,
  process: ({ value }) => (value as Buffer).length,
});
