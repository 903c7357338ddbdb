/**
 * Placement: which node runs in which runner process, and what each process
 * reads. Pure. Which process a node gets is packing's choice (packing.ts:
 * packed by default, `group`, `isolate` and per-node where asked); the return
 * node runs in the driver. A process takes its host, labels
 * and restart policy from its first node.
 */
import type { Tube } from "../../graph/tube.ts";
import { packNodes, type PackingOptions } from "./packing.ts";

export const DRIVER = "command";

export interface RunnerPlan {
  readonly id: string;
  readonly nodes: readonly string[];
  /** Runner ids this runner's nodes read from. */
  readonly upstream: readonly string[];
  readonly host?: string;
  readonly labels?: readonly string[];
  readonly restart: "never" | "on-failure" | "always";
  readonly maxRestarts: number;
}

export interface Placement {
  readonly runners: ReadonlyMap<string, RunnerPlan>;
  /** The runner (or DRIVER) of every node. */
  readonly runnerOf: ReadonlyMap<string, string>;
  readonly driverNodes: readonly string[];
}

export function placeNodes(tube: Tube, packing: PackingOptions = {}): Placement {
  const runnerOf = packNodes(tube, packing);
  const members = new Map<string, string[]>();
  for (const [id, runner] of runnerOf) if (runner !== DRIVER) members.set(runner, [...(members.get(runner) ?? []), id]);
  const runners = new Map<string, RunnerPlan>();
  for (const [id, nodes] of members) {
    const upstream = new Set<string>();
    for (const n of nodes) for (const up of upstreamNodes(tube, n)) {
      const r = runnerOf.get(up)!;
      if (r !== id) upstream.add(r);
    }
    const first = tube.nodes.get(nodes[0]!)!.placement;
    runners.set(id, {
      id,
      nodes,
      upstream: [...upstream].sort(),
      ...(first.host ? { host: first.host } : {}),
      ...(first.labels ? { labels: first.labels } : {}),
      restart: first.restart,
      maxRestarts: first.maxRestarts,
    });
  }
  return { runners, runnerOf, driverNodes: tube.order.filter((id) => runnerOf.get(id) === DRIVER) };
}

/**
 * Nodes whose completions a node's scheduler must hear of: the nodes it reads,
 * and the maps whose sub-epochs it runs in or collapses (it learns the item
 * count from them).
 */
export function upstreamNodes(tube: Tube, nodeId: string): string[] {
  const node = tube.nodes.get(nodeId)!;
  const out = new Set<string>();
  for (const e of node.edges) {
    if (e.source.kind !== "node") continue;
    out.add(e.source.node);
    const up = tube.nodes.get(e.source.node)!;
    for (const m of up.scope) out.add(m);
  }
  for (const m of node.scope) out.add(m);
  out.delete(nodeId);
  return [...out];
}
