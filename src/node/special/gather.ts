/**
 * gather: collects values across epochs and emits them as one list, in epoch
 * order, when it holds `n` of them (`n` from params or its `n` slot) or when
 * its `trigger` slot gets an event (the triggering epoch's value included).
 * When its `value` comes from inside a map, it reads one map level up: it gets
 * the list of the sub-epochs' values and collects each of them.
 */
import type { NodeContext, NodeDefinition } from "../definition.ts";

export const gatherNode: NodeDefinition = Object.freeze({
  kind: "tubular.node" as const,
  slots: {
    value: { required: true },
    n: { required: false },
    trigger: { required: false },
  },
  signals: ["value"],
  stateful: true,
  special: "gather" as const,
  create(params: Record<string, unknown>) {
    const buffer: unknown[] = [];
    return {
      process(inputs: Record<string, unknown>, ctx: NodeContext) {
        if (ctx.collapsed.has("value")) buffer.push(...(inputs.value as unknown[]));
        else buffer.push(inputs.value);
        if (inputs.trigger !== undefined) return buffer.splice(0, buffer.length);
        const n = (inputs.n ?? params.n) as number | undefined;
        if (typeof n === "number" && buffer.length >= n) return buffer.splice(0, n);
        return undefined;
      },
    };
  },
});
