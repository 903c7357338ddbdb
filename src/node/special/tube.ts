/**
 * tube: runs another graph as one node. Its params other than `tube` are the
 * child's tube inputs (applied when the child is loaded); its slots are the
 * child's process inputs; its signals are the child's return (`value` for a
 * scalar or list return, else the returned object's keys).
 */
import type { Tube } from "../../graph/tube.ts";
import { TubularError } from "../../errors.ts";
import type { InitContext, NodeDefinition, NodeInstance } from "../definition.ts";

export function tubeSignals(child: Tube): string[] {
  return child.returnShape?.kind === "object" ? [...child.returnShape.keys] : ["value"];
}

export function tubeNode(child: Tube): NodeDefinition {
  const processInputs = Object.entries(child.inputs).filter(([, d]) => d.scope === "process");
  return Object.freeze({
    kind: "tubular.node" as const,
    slots: Object.fromEntries(processInputs.map(([name, d]) => [name, { required: (d.required ?? d.default === undefined), default: d.default }])),
    signals: tubeSignals(child),
    stateful: true,
    special: "tube" as const,
    async create(_params: Record<string, unknown>, ctx: InitContext): Promise<NodeInstance> {
      // The runner hands out the child's runner: nodes do not depend on runners.
      if (!ctx.runChild) throw new TubularError("TUBULAR_ERR_NODE_DEFINITION", "this runner cannot run nested tubes");
      const runner = ctx.runChild(child);
      await runner.init();
      // A child returning an object with one key has one signal: its value is that key's value, not the object.
      const single = child.returnShape?.kind === "object" && child.returnShape.keys.length === 1 ? child.returnShape.keys[0]! : undefined;
      return {
        // A child epoch that returned nothing (null) is no event here.
        process: async (inputs, ctx) => {
          const result = (await runner.process(inputs, ctx.epoch)) ?? undefined;
          return single !== undefined && result !== undefined ? ((result as Record<string, unknown>)[single] ?? undefined) : result;
        },
        deinit: () => runner.deinit(),
      };
    },
  });
}
