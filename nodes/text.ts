/** Nodes over strings and collections. */
import { z } from "zod";
import { defineNode } from "../src/node/define.ts";

export const concat = defineNode({
  slots: { items: z.array(z.unknown()) },
  stateful: false,
  process: ({ items }, { params }) => (items as unknown[]).map(String).join(String(params.sep ?? "")),
});

export const exclaim = defineNode({
  slots: { value: z.string(), hype: z.number().int().nonnegative().default(1) },
  stateful: false,
  process: ({ value, hype }) => value + "!".repeat(hype),
});

export const dictify = defineNode({
  slots: { key: z.union([z.string(), z.number()]), items: z.unknown() },
  stateful: false,
  process: ({ key, items }) => ({ [String(key)]: items }),
});
