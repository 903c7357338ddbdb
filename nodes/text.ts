/** Nodes over strings and collections. */
import { z } from "zod";
import { defineNode } from "../src/node/define.ts";
import { checkTextLength, MAX_HYPE, MAX_SEPARATOR_LENGTH } from "./limits.ts";

const Separator = z.string().max(MAX_SEPARATOR_LENGTH);

export const concat = defineNode({
  slots: { items: z.array(z.unknown()) },
  stateful: false,
  init: (params) => ({ sep: Separator.parse(params.sep === undefined ? "" : String(params.sep)) }),
  process: ({ items }, { state }) => {
    const parts = (items as unknown[]).map(String);
    checkTextLength("concat", parts.reduce((n, p) => n + p.length, 0) + state.sep.length * Math.max(0, parts.length - 1));
    return parts.join(state.sep);
  },
});

export const exclaim = defineNode({
  slots: { value: z.string(), hype: z.number().int().nonnegative().max(MAX_HYPE).default(1) },
  stateful: false,
  process: ({ value, hype }) => {
    checkTextLength("exclaim", value.length + hype);
    return value + "!".repeat(hype);
  },
});

export const dictify = defineNode({
  slots: { key: z.union([z.string(), z.number()]), items: z.unknown() },
  stateful: false,
  process: ({ key, items }) => ({ [String(key)]: items }),
});
