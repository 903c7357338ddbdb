/**
 * The return node: what an epoch returns. Its inputs are composed by the
 * runtime according to the tube's return shape (see graph/tube.ts), so it has
 * no process logic of its own beyond building that value.
 */
import type { NodeContext, NodeDefinition } from "../definition.ts";

export type ReturnShape =
  | { readonly kind: "scalar" }
  | { readonly kind: "list"; readonly length: number }
  | { readonly kind: "object"; readonly keys: readonly string[] };

/** Slot names of the return node: "value" for a scalar, "0".."n-1" for a list, the keys for an object. */
export function composeReturn(shape: ReturnShape, inputs: Record<string, unknown>): unknown {
  switch (shape.kind) {
    case "scalar":
      return inputs.value === undefined ? null : inputs.value;
    case "list":
      return Array.from({ length: shape.length }, (_, i) => (inputs[String(i)] === undefined ? null : inputs[String(i)]));
    case "object": {
      const out: Record<string, unknown> = {};
      let any = false;
      for (const key of shape.keys) {
        if (inputs[key] !== undefined) {
          out[key] = inputs[key];
          any = true;
        }
      }
      return any ? out : null;
    }
  }
}

export function returnNode(shape: ReturnShape): NodeDefinition {
  return Object.freeze({
    kind: "tubular.node" as const,
    slots: "any" as const,
    signals: ["value"],
    stateful: false,
    special: "return" as const,
    create: () => ({
      process: (inputs: Record<string, unknown>, ctx: NodeContext) => {
        // A value from inside a map comes as the list of the items' values; as in noob, one item is returned as itself, none as no value.
        for (const slot of ctx.collapsed) {
          const v = inputs[slot];
          if (Array.isArray(v)) inputs[slot] = v.length === 0 ? undefined : v.length === 1 ? v[0] : v;
        }
        return composeReturn(shape, inputs);
      },
    }),
  });
}
