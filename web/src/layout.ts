/**
 * Graph layout with elkjs (layered, left to right: the layout made for
 * data-flow graphs). Computed once per graph shape, never per state update.
 */
import ELK from "elkjs/lib/elk.bundled.js";
import type { ElkNode } from "elkjs/lib/elk-api";
import type { GraphView } from "../../src/bridge/dashboard/messages.ts";

export const NODE_W = 230;
export const NODE_H = 108;
export const INPUT_W = 130;
export const INPUT_H = 36;

export interface Point {
  x: number;
  y: number;
}

export interface Laid {
  width: number;
  height: number;
  nodes: Map<string, { x: number; y: number; w: number; h: number }>;
  edges: Map<string, Point[]>;
}

const elk = new ELK();

export async function layout(graph: GraphView): Promise<Laid> {
  const spec: ElkNode = {
    id: "root",
    layoutOptions: {
      "elk.algorithm": "layered",
      "elk.direction": "RIGHT",
      "elk.spacing.nodeNode": "36",
      // Room for an edge label with its rate ("index→left · 1.2k ev/s").
      "elk.layered.spacing.nodeNodeBetweenLayers": "170",
      "elk.edgeRouting": "SPLINES",
      "elk.padding": "[top=24,left=24,bottom=24,right=24]",
    },
    children: graph.nodes.map((n) => ({ id: n.id, width: n.kind === "input" ? INPUT_W : NODE_W, height: n.kind === "input" ? INPUT_H : NODE_H })),
    edges: graph.edges.map((e) => ({ id: e.id, sources: [e.from], targets: [e.to] })),
  };
  const result = await elk.layout(spec);
  const nodes: Laid["nodes"] = new Map();
  for (const c of result.children ?? []) nodes.set(c.id, { x: c.x ?? 0, y: c.y ?? 0, w: c.width ?? NODE_W, h: c.height ?? NODE_H });
  const edges: Laid["edges"] = new Map();
  for (const e of result.edges ?? []) {
    const s = e.sections?.[0];
    if (!s) continue;
    edges.set(e.id, [s.startPoint, ...(s.bendPoints ?? []), s.endPoint]);
  }
  return { width: result.width ?? 0, height: result.height ?? 0, nodes, edges };
}
