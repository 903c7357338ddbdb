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
      const items = inputs.value;
      if (!Array.isArray(items)) throw new TypeError(`map needs a list, got ${typeof items}`);
      return { value: items, n: items.length };
    },
  }),
});
