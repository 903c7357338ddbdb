/**
 * tube: runs another graph as one node. Its params other than `tube` are the
 * child's tube inputs (applied when the child is loaded); its slots are the
 * child's process inputs; its signals are the child's return (`value` for a
 * scalar or list return, else the returned object's keys).
 */
import type { Tube } from "../../graph/tube.ts";
import type { NodeDefinition, NodeInstance } from "../definition.ts";

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
    async create(): Promise<NodeInstance> {
      // Imported here, not at the top: the runner depends on nodes, not the other way round.
      const { LocalRunner } = await import("../../runner/local.ts");
      const runner = new LocalRunner(child);
      await runner.init();
      return {
        // A child epoch that returned nothing (null) is no event here.
        process: async (inputs) => (await runner.process(inputs)) ?? undefined,
        deinit: () => runner.deinit(),
      };
    },
  });
}
