/**
 * The built-in node library: every type here is usable by name in a graph file.
 * Special nodes (return, map, gather, tube) live in src/node/special.
 */
import type { NodeDefinition } from "../src/node/definition.ts";
import { add, divide, multiply, sum } from "./arithmetic.ts";
import { count, cycle, sporadic } from "./sources.ts";
import { concat, dictify, exclaim } from "./text.ts";
import { sleep } from "./timing.ts";

export const builtinNodes: Readonly<Record<string, NodeDefinition>> = Object.freeze({
  count,
  cycle,
  sporadic,
  add,
  multiply,
  divide,
  sum,
  concat,
  exclaim,
  dictify,
  sleep,
});
