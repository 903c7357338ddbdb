/**
 * map: takes a list and runs the nodes downstream of its `value` signal once
 * per item, in sub-epochs `[root, [mapNode, i]]`. Its `n` signal (the item
 * count) stays in the parent epoch. The runtime turns the returned list into
 * one `value` event per sub-epoch.
 */
import type { NodeDefinition } from "../definition.ts";

export const mapNode: NodeDefinition = Object.freeze({
  kind: "tubular.node" as const,
  slots: { value: { required: true } },
  signals: ["value", "n"],
  stateful: false,
  special: "map" as const,
  create: () => ({
    process(inputs: Record<string, unknown>) {
      // A string maps over its characters, as in noob (Python iterates a str by character).
      const items = typeof inputs.value === "string" ? Array.from(inputs.value) : inputs.value;
      if (!Array.isArray(items)) throw new TypeError(`map needs a list or a string, got ${typeof items}`);
      return { value: items, n: items.length };
    },
  }),
});
