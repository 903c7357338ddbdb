/** Arithmetic nodes: stateless functions of their slots. */
import { z } from "zod";
import { defineNode } from "../src/node/define.ts";

const num = z.number();

export const add = defineNode({
  slots: { left: num, right: num },
  stateful: false,
  process: ({ left, right }) => left + right,
});

export const multiply = defineNode({
  slots: { left: num, right: num },
  stateful: false,
  process: ({ left, right }) => left * right,
});

export const divide = defineNode({
  slots: { numerator: num, denominator: num },
  stateful: false,
  process: ({ numerator, denominator }) => {
    if (denominator === 0) throw new RangeError(`division by zero (${numerator} / 0)`);
    return numerator / denominator;
  },
});

export const sum = defineNode({
  slots: { items: z.array(num) },
  stateful: false,
  process: ({ items }) => (items as number[]).reduce((a, b) => a + b, 0),
});
