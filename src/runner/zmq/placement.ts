/**
 * Placement: which node runs in which runner process. Pure.
 * - each node gets its own process, with the node id as runner id;
 * - nodes with `group: NAME` share one process, runner id "@NAME"
 *   (node ids cannot start with "@", so the two never collide);
 * - the return node, and disabled nodes, run in the driver: they need no process;
 * - a group takes its host, labels and restart policy from its first node.
 */
import type { Tube } from "../../graph/tube.ts";

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

export function placeNodes(tube: Tube): Placement {
  const runnerOf = new Map<string, string>();
  const members = new Map<string, string[]>();
  for (const id of tube.order) {
    const node = tube.nodes.get(id)!;
    const runner = node.definition.special === "return" || !node.enabled ? DRIVER : node.placement.group ? `@${node.placement.group}` : id;
    runnerOf.set(id, runner);
    if (runner !== DRIVER) members.set(runner, [...(members.get(runner) ?? []), id]);
  }
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
