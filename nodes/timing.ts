/** Nodes that take time: for tests of backpressure and slow graphs. */
import { z } from "zod";
import { defineNode } from "../src/node/define.ts";
import { MAX_SLEEP_MS } from "./limits.ts";

/** Passes `value` on unchanged after `ms` milliseconds. */
export const sleep = defineNode({
  slots: { value: z.unknown() },
  stateful: false,
  init: (params) => ({ ms: z.number().nonnegative().max(MAX_SLEEP_MS).parse(params.ms ?? 0) }),
  process: ({ value }, { state }) => new Promise((resolve) => setTimeout(() => resolve(value), state.ms)),
});
