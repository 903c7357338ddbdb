/**
 * Packing: which runner process each node runs in, by default. Pure (the
 * number of processes per host is given, not read from the machine).
 *
 * What the graph says decides first:
 * - the return node runs in the driver (DRIVER); a node disabled in the file
 *   is placed like the others: its process skips it, and creates it if it is
 *   enabled at run time (docs/architecture.md, "Enabling and disabling nodes");
 * - `group: NAME` puts nodes in one process, "@NAME";
 * - `isolate: true` gives a node a process of its own, named by the node id.
 * The rest is packed (the default), or one process per node with
 * `mode: "per-node"` (noob's behaviour):
 * 1. Operator chaining (Flink's idea): a node whose only upstream is one node
 *    that feeds only it joins that node's process; an edge inside a process
 *    is a function call, not a ZeroMQ hop. A chain of 100 is one unit.
 * 2. The units of one placement class (same host, labels, restart policy)
 *    are dealt into at most `processesPerHost` processes, as contiguous runs
 *    of the units' topological order, balanced by node count. Contiguous runs
 *    keep neighbours together and the processes' graph acyclic.
 * A packed process is named "+FIRST" after its first node: node ids cannot
 * start with "+" (nor "@"), so the names of the three kinds never collide.
 * Why packed by default: bench/scaling.bench.ts, chain10 in one run on a
 * loaded 2-core machine: 10 processes 135 epochs/s, p50 13.6 ms, init 19.4 s;
 * packed into 1, 467 epochs/s, p50 0.44 ms, init 3.6 s (docs/performance.md).
 */
import type { Tube } from "../../graph/tube.ts";
import { DRIVER, upstreamNodes } from "./placement.ts";

export const PROCESSES_MODES = ["packed", "per-node"] as const;
export type ProcessesMode = (typeof PROCESSES_MODES)[number];

export interface PackingOptions {
  /** Default "packed". */
  readonly mode?: ProcessesMode;
  /**
   * Processes the packed nodes of one placement class may fill; explicit
   * groups and isolated nodes come on top. Default 1 (see defaultProcessesPerHost).
   */
  readonly processesPerHost?: number;
}

/**
 * About as many busy processes as cores: the driver is one of them (it runs
 * the scheduler, the command node and the return node), so the packed nodes
 * get the other cores, and at least one process. Fewer runnable threads than
 * cores is what keeps the tail short: bench/latency-trace.ts found 99% of
 * chain3's slow process() calls waiting on a run queue; 4 processes p99
 * 193 ms, 2 processes 34.5 ms, same run (load 25).
 */
export function defaultProcessesPerHost(cores: number): number {
  return Math.max(1, cores - 1);
}

/** The runner id (or DRIVER) of every node of the tube, in the tube's order. */
export function packNodes(tube: Tube, options: PackingOptions = {}): Map<string, string> {
  const mode = options.mode ?? "packed";
  const perHost = Math.max(1, Math.floor(options.processesPerHost ?? 1));
  const runnerOf = new Map<string, string>();
  const free: string[] = [];
  for (const id of tube.order) {
    const node = tube.nodes.get(id)!;
    if (node.definition.special === "return") runnerOf.set(id, DRIVER);
    else if (node.placement.group) runnerOf.set(id, `@${node.placement.group}`);
    else if (node.placement.isolate || mode === "per-node") runnerOf.set(id, id);
    else free.push(id);
  }
  if (free.length === 0) return ordered(tube, runnerOf);

  // Process-level edges between the packable nodes: what each reads, and who reads it.
  const isFree = new Set(free);
  const ups = new Map<string, string[]>();
  const downs = new Map<string, string[]>(free.map((id) => [id, []]));
  for (const id of free) {
    const u = upstreamNodes(tube, id).filter((n) => runnerOf.get(n) !== DRIVER);
    ups.set(id, u);
    for (const n of u) if (isFree.has(n)) downs.get(n)!.push(id);
  }
  // Readers outside the free set (isolated, grouped) count as downstreams too: a node feeding two processes is not one-to-one.
  for (const [id, r] of runnerOf) {
    if (r === DRIVER) continue;
    for (const n of upstreamNodes(tube, id)) if (isFree.has(n)) downs.get(n)!.push(id);
  }

  // 1. Chains: union a node with its sole upstream when that upstream feeds only it, in the same placement class.
  const unitOf = new Map<string, string>(free.map((id) => [id, id]));
  const find = (id: string): string => {
    let r = id;
    while (unitOf.get(r) !== r) r = unitOf.get(r)!;
    return r;
  };
  for (const id of free) {
    const u = ups.get(id)!;
    if (u.length !== 1) continue;
    const up = u[0]!;
    if (!isFree.has(up) || downs.get(up)!.length !== 1 || classOf(tube, up) !== classOf(tube, id)) continue;
    unitOf.set(find(id), find(up));
  }
  const units = new Map<string, string[]>();
  for (const id of free) {
    const root = find(id);
    units.set(root, [...(units.get(root) ?? []), id]);
  }

  // 2. Units in topological order (the tube's order, by each unit's last node, keeps producers first), dealt by class.
  const lastIndex = new Map(tube.order.map((id, i) => [id, i]));
  const unitList = [...units.values()].sort((a, b) => lastIndex.get(a.at(-1)!)! - lastIndex.get(b.at(-1)!)!);
  const byClass = new Map<string, string[][]>();
  for (const unit of topological(unitList, ups, (id) => (isFree.has(id) ? find(id) : undefined))) {
    const key = classOf(tube, unit[0]!);
    byClass.set(key, [...(byClass.get(key) ?? []), unit]);
  }
  for (const list of byClass.values()) {
    const total = list.reduce((n, u) => n + u.length, 0);
    const bins = Math.min(perHost, list.length);
    let bin = 0;
    let filled = 0;
    let name = "";
    for (const unit of list) {
      // Move to the next process once this one holds its share of the nodes.
      if (name !== "" && filled >= ((bin + 1) * total) / bins && bin < bins - 1) {
        bin++;
        name = "";
      }
      if (name === "") name = `+${unit[0]}`;
      for (const id of unit) runnerOf.set(id, name);
      filled += unit.length;
    }
  }
  return ordered(tube, runnerOf);
}

/** Units ordered so that every unit comes after the units it reads from (Kahn; ties keep the given order). */
function topological(units: string[][], ups: Map<string, string[]>, rootOf: (id: string) => string | undefined): string[][] {
  const byRoot = new Map(units.map((u) => [rootOf(u[0]!)!, u]));
  const needs = new Map<string, Set<string>>();
  for (const [root, unit] of byRoot) {
    const s = new Set<string>();
    for (const id of unit) {
      for (const up of ups.get(id)!) {
        const r = rootOf(up);
        if (r !== undefined && r !== root) s.add(r);
      }
    }
    needs.set(root, s);
  }
  const out: string[][] = [];
  const done = new Set<string>();
  while (out.length < units.length) {
    // The tube is acyclic, so some unit is always ready; the fallback only guards against looping forever.
    const root = [...byRoot.keys()].find((r) => !done.has(r) && [...needs.get(r)!].every((n) => done.has(n))) ?? [...byRoot.keys()].find((r) => !done.has(r))!;
    done.add(root);
    out.push(byRoot.get(root)!);
  }
  return out;
}

/** Nodes that must share a host and a restart policy to share a process. */
function classOf(tube: Tube, id: string): string {
  const p = tube.nodes.get(id)!.placement;
  return JSON.stringify([p.host ?? null, p.labels ? [...p.labels].sort() : null, p.restart, p.maxRestarts]);
}

function ordered(tube: Tube, runnerOf: Map<string, string>): Map<string, string> {
  return new Map(tube.order.map((id) => [id, runnerOf.get(id)!]));
}
