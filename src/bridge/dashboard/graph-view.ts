/**
 * The static part of a watched run as the browser draws it: nodes (tube
 * inputs included, as sources), edges signal -> slot, params. Pure.
 */
import type { Tube } from "../../graph/tube.ts";
import type { EdgeView, GraphView, NodeView } from "./messages.ts";

/** Params go to a browser: functions, symbols and big values are shown as text, never sent whole. */
function viewable(value: unknown, depth = 0): unknown {
  if (value === null || typeof value === "number" || typeof value === "boolean") return value;
  if (typeof value === "string") return value.length > 500 ? `${value.slice(0, 500)}…` : value;
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "function" || typeof value === "symbol" || value === undefined) return String(value);
  if (depth > 4) return "…";
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => viewable(v, depth + 1));
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${(value as unknown as { length?: number }).length ?? value.byteLength})`;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>).slice(0, 50)) out[k] = viewable(v, depth + 1);
  return out;
}

export function graphView(run: { id: string; label: string; kind: string; tube: Tube }): GraphView {
  const { tube } = run;
  const nodes: NodeView[] = [];
  const edges: EdgeView[] = [];
  const inputsUsed = new Set<string>();
  for (const node of tube.nodes.values()) {
    const slots = new Set<string>(node.definition.slots === "any" ? [] : Object.keys(node.definition.slots));
    for (const e of node.edges) {
      slots.add(e.slot);
      if (e.source.kind === "node") {
        edges.push({ id: `${e.source.node}.${e.source.signal}->${node.id}.${e.slot}`, from: e.source.node, signal: e.source.signal, to: node.id, slot: e.slot });
      } else {
        const from = `input.${e.source.name}`;
        inputsUsed.add(e.source.name);
        edges.push({ id: `${from}->${node.id}.${e.slot}`, from, signal: e.source.name, to: node.id, slot: e.slot });
      }
    }
    const p = node.placement;
    nodes.push({
      id: node.id,
      kind: "node",
      type: node.type,
      params: viewable(node.params) as Record<string, unknown>,
      slots: [...slots],
      signals: [...node.signals],
      ...(p.group ? { group: p.group } : {}),
      ...(p.host ? { host: p.host } : {}),
      restart: p.restart,
    });
  }
  for (const name of inputsUsed) {
    const spec = tube.inputs[name];
    nodes.push({ id: `input.${name}`, kind: "input", type: `input (${spec?.scope ?? "?"})`, params: {}, slots: [], signals: [name] });
  }
  return { runId: run.id, label: run.label, tubeId: tube.id, kind: run.kind, nodes, edges };
}
