/**
 * Scheduler: decides, per epoch, which nodes can run and with what inputs.
 * Pure: no sockets, no clocks, no node code. A runner feeds it epochs
 * (`openEpoch`) and node completions (`complete`, for its own nodes and for
 * remote ones it hears about), and takes tasks (`takeReady`) and finished
 * root epochs (`takeCompleted`).
 *
 * Rules:
 * - a node runs in an epoch once every upstream node it reads has completed
 *   that epoch (ran or was skipped); a required slot without an event skips it;
 * - a node inside a map runs once per sub-epoch; a slot reading one map level
 *   deeper gets the list of the sub-epochs' values (after all have completed);
 * - a stateful node runs root epochs in order, and a map's items in order.
 */
import { keyToEpoch, rootKey, subKey, type Epoch, type EpochKey } from "./epoch.ts";
import type { Edge, Tube, TubeNode } from "./tube.ts";

/** One signal's value from a completed node; `key` is the epoch it belongs to (a sub-epoch for a map's items). */
export interface Emitted {
  readonly signal: string;
  readonly key: EpochKey;
  readonly value: unknown;
}

export interface Task {
  readonly node: TubeNode;
  readonly key: EpochKey;
  readonly epoch: Epoch;
  /** The node's inputs; null when the node is skipped in this epoch (disabled, or a required slot had no event). */
  readonly inputs: Record<string, unknown> | null;
}

class EpochState {
  readonly done = new Set<string>();
  readonly running = new Set<string>();
  /** Signal values, by the scheduler's number for (node, signal) (`Scheduler.signalId`). */
  readonly values = new Map<number, unknown>();
  /** Sub-epochs, per map node, in item order; only epochs of graphs with maps have them. */
  children: Map<string, EpochState[]> | undefined;
  subCount: Map<string, number> | undefined;
  opened = false;
  input: Readonly<Record<string, unknown>> = {};
  trackedRootDone = 0;
  complete = false;

  constructor(
    readonly key: EpochKey,
    readonly depth: number,
    readonly root: number,
    readonly parent: EpochState | undefined,
    readonly index: number,
  ) {}

  ancestor(depth: number): EpochState {
    let st: EpochState = this;
    while (st.depth > depth) st = st.parent!;
    return st;
  }
}

const PENDING = Symbol("pending");
const MISSING = Symbol("missing");

/**
 * What the scheduler puts in a slot fed by `assets.NAME`: the scheduler knows
 * no asset objects (it is pure); the runner's asset store swaps the marker for
 * the object right before the node runs (src/node/assets.ts).
 */
export interface AssetMarker {
  readonly [ASSET_MARK]: string;
}
export const ASSET_MARK: unique symbol = Symbol.for("tubular.asset");

const markers = new Map<string, AssetMarker>();
function assetMarker(name: string): AssetMarker {
  let m = markers.get(name);
  if (!m) markers.set(name, (m = Object.freeze({ [ASSET_MARK]: name })));
  return m;
}


export interface SchedulerOptions {
  /** Nodes this scheduler runs. Default: all. */
  local?: Iterable<string>;
  /** Nodes whose completion makes a root epoch complete. Default: all. */
  tracked?: Iterable<string>;
  /**
   * The first root epoch this scheduler will see. Stateful nodes start their
   * epoch order there, so a scheduler that is never told epochs open (a
   * runner without sources) still keeps the order. Default: the first epoch opened.
   */
  firstEpoch?: number;
}

export class Scheduler {
  private readonly tube: Tube;
  private readonly local: Set<string>;
  private readonly tracked: Set<string>;
  private readonly trackedRoot: string[];
  private readonly trackedDeep: string[];
  private readonly depth = new Map<string, number>();
  /** Nodes that read a map's scope collapsed into the map's own epoch, per map. */
  private readonly collapsers = new Map<string, TubeNode[]>();
  /** Node -> the local nodes that wait for its completion of the previous root epoch (asset round-trips). */
  private readonly previousWaiters = new Map<string, TubeNode[]>();
  private readonly roots = new Map<number, EpochState>();
  private readonly nextRoot = new Map<string, number>();
  private firstRoot: number | undefined;
  private closedBelow = -Infinity;
  private readonly closedAbove = new Set<number>();
  private ready: Task[] = [];
  /** Nodes enabled or disabled since the tube was built (a runner's enableNode / disableNode). */
  private readonly enabledNow = new Map<string, boolean>();
  private completed: number[] = [];
  /**
   * A number per (node, signal), the key of an epoch's values: a string key
   * built per value and per read (`node\0signal`) cost a concatenation and a
   * hash each; on chain100 the runner spent 566 of its 1,600 profile ticks
   * in complete() on that one line (`--cpu-prof`). With numbers, the runner
   * process's CPU per epoch went 0.49 -> 0.40 ms (bench/node-cost.ts, median
   * of 3 alternating runs, loaded machine).
   */
  private readonly signalIds = new Map<string, Map<string, number>>();
  /** The signal number each node edge reads, fixed at construction. */
  private readonly edgeSignal = new Map<Edge, number>();
  private nextSignalId = 0;

  constructor(tube: Tube, options: SchedulerOptions = {}) {
    this.tube = tube;
    this.local = new Set(options.local ?? tube.nodes.keys());
    this.tracked = new Set(options.tracked ?? tube.nodes.keys());
    if (options.firstEpoch !== undefined) {
      this.firstRoot = options.firstEpoch;
      this.closedBelow = options.firstEpoch;
    }
    for (const node of tube.nodes.values()) {
      this.depth.set(node.id, node.scope.length);
      for (const signal of node.signals) this.signalId(node.id, signal);
      if (node.definition.special === "return") this.signalId(node.id, "value");
      for (const e of node.edges) if (e.source.kind === "node") this.edgeSignal.set(e, this.signalId(e.source.node, e.source.signal));
    }
    this.trackedRoot = [...this.tracked].filter((id) => this.depth.get(id) === 0);
    this.trackedDeep = [...this.tracked].filter((id) => this.depth.get(id)! > 0);
    for (const node of tube.nodes.values()) {
      for (const w of node.waitsForPrevious ?? []) this.previousWaiters.set(w, [...(this.previousWaiters.get(w) ?? []), node]);
      for (const e of node.edges) {
        if (!node.collapsed.has(e.slot) || e.source.kind !== "node") continue;
        const map = this.signalScope(e)[node.scope.length]!;
        const list = this.collapsers.get(map) ?? [];
        if (!list.includes(node)) list.push(node);
        this.collapsers.set(map, list);
      }
    }
  }

  /** Opens a root epoch with its process-scoped input; source nodes become ready. */
  openEpoch(root: number, input: Readonly<Record<string, unknown>> = {}): void {
    if (this.isClosed(root)) return;
    if (this.firstRoot === undefined) {
      this.firstRoot = root;
      this.closedBelow = root;
    }
    const st = this.rootState(root);
    st.opened = true;
    st.input = input;
    for (const id of this.local) if (this.depth.get(id) === 0) this.check(this.tube.nodes.get(id)!, st);
  }

  /**
   * Records that a node completed an epoch, with what it emitted. Duplicates
   * and closed epochs are ignored; returns whether this completion was news.
   */
  complete(nodeId: string, key: EpochKey, events: readonly Emitted[]): boolean {
    const node = this.tube.nodes.get(nodeId);
    if (!node) return false;
    const st = this.state(key);
    if (!st || st.done.has(nodeId)) return false;
    this.completeIn(node, st, key, events);
    return true;
  }

  /**
   * Records that every node of `nodeIds` completed the root epoch `rootKey`
   * (a whole runner's part of it, heard as one entry): as many `complete`
   * calls, but with the epoch looked up once. Nodes inside a map are refused
   * (their completions are per sub-epoch); a key that is not a root epoch's
   * (it came from the wire), unknown nodes, duplicates and closed epochs are
   * ignored. `eventsOf` gives a node's events; `news` hears
   * each node whose completion was news. Returns how many were.
   */
  completeAll(nodeIds: readonly string[], rootKey: EpochKey, eventsOf: (nodeId: string) => readonly Emitted[], news?: (nodeId: string) => void): number {
    const st = rootKey.indexOf("/") < 0 ? this.state(rootKey) : undefined;
    if (!st) return 0;
    let count = 0;
    for (const id of nodeIds) {
      const node = this.tube.nodes.get(id);
      if (!node || st.done.has(id)) continue;
      if (node.scope.length > 0) throw new RangeError(`node "${id}" runs in a map's sub-epochs: it completes one by one`);
      this.completeIn(node, st, rootKey, eventsOf(id));
      count++;
      news?.(id);
    }
    return count;
  }

  private completeIn(node: TubeNode, st: EpochState, key: EpochKey, events: readonly Emitted[]): void {
    const nodeId = node.id;
    st.done.add(nodeId);
    st.running.delete(nodeId);
    let items = 0;
    for (const ev of events) {
      const target: EpochState | undefined = ev.key === key ? st : this.state(ev.key);
      if (!target) continue;
      // A signal the tube does not declare has no reader: nothing to keep (and nothing to grow on a peer's say).
      const id = this.signalIds.get(nodeId)?.get(ev.signal);
      if (id !== undefined) target.values.set(id, ev.value);
      if (target !== st && target.parent === st) items++;
    }
    if (node.definition.special === "map") this.openSubEpochs(node, st, items);

    for (const downId of this.tube.downstream.get(nodeId)!) {
      if (!this.local.has(downId)) continue;
      const down = this.tube.nodes.get(downId)!;
      const d = down.scope.length;
      if (d === st.depth) this.check(down, st);
      else if (d < st.depth) this.check(down, st.ancestor(d));
      else for (const sub of this.descendants(st, d)) this.check(down, sub);
    }
    if (node.stateful && this.local.has(nodeId)) this.checkNextInOrder(node, st);
    if (st.depth === 0) this.checkPreviousWaiters(nodeId, st.root);
    if (this.tracked.has(nodeId)) {
      const root = st.ancestor(0);
      if (st.depth === 0) root.trackedRootDone++;
      this.checkRootComplete(root);
    }
  }

  /**
   * Enables or disables a node from now on: epochs it has not been scheduled
   * in yet run it (or skip it, as a node disabled in the graph file is).
   */
  setEnabled(nodeId: string, enabled: boolean): void {
    if (!this.tube.nodes.has(nodeId)) throw new RangeError(`no node "${nodeId}"`);
    this.enabledNow.set(nodeId, enabled);
  }

  isEnabled(nodeId: string): boolean {
    return this.enabledNow.get(nodeId) ?? this.tube.nodes.get(nodeId)?.enabled ?? false;
  }

  /** Tasks that became ready since the last call. */
  takeReady(): Task[] {
    const out = this.ready;
    this.ready = [];
    return out;
  }

  /** Root epochs whose tracked nodes have all completed since the last call. */
  takeCompleted(): number[] {
    const out = this.completed;
    this.completed = [];
    return out;
  }

  /** A signal's value in a root epoch (e.g. the return node's), or undefined. */
  valueOf(root: number, nodeId: string, signal: string): unknown {
    const id = this.signalIds.get(nodeId)?.get(signal);
    return id === undefined ? undefined : this.roots.get(root)?.values.get(id);
  }

  isComplete(root: number): boolean {
    return this.roots.get(root)?.complete ?? this.isClosed(root);
  }

  /** Forgets a root epoch; late completions for it are ignored. */
  closeEpoch(root: number): void {
    this.roots.delete(root);
    if (root < this.closedBelow) return;
    this.closedAbove.add(root);
    while (this.closedAbove.delete(this.closedBelow)) this.closedBelow++;
  }

  /** Root epochs held in memory (for tests of bounded memory). */
  get openEpochs(): number {
    return this.roots.size;
  }

  /** The number of a (node, signal), made at construction only: the set stays what the tube declares, whatever arrives. */
  private signalId(node: string, signal: string): number {
    let signals = this.signalIds.get(node);
    if (!signals) this.signalIds.set(node, (signals = new Map()));
    let id = signals.get(signal);
    if (id === undefined) signals.set(signal, (id = this.nextSignalId++));
    return id;
  }

  private isClosed(root: number): boolean {
    return root < this.closedBelow || this.closedAbove.has(root);
  }

  private rootState(root: number): EpochState {
    let st = this.roots.get(root);
    if (!st) {
      st = new EpochState(rootKey(root), 0, root, undefined, root);
      this.roots.set(root, st);
    }
    return st;
  }

  /** The state of an epoch key, created on the way (events may arrive before the epoch is opened). */
  private state(key: EpochKey): EpochState | undefined {
    if (key.indexOf("/") < 0) {
      // A root epoch: the common case, without splitting the key.
      const root = Number(key);
      return Number.isInteger(root) && !this.isClosed(root) ? this.rootState(root) : undefined;
    }
    const parts = key.split("/");
    const root = Number(parts[0]);
    if (!Number.isInteger(root) || this.isClosed(root)) return undefined;
    let st = this.rootState(root);
    for (let i = 1; i < parts.length; i++) {
      const part = parts[i]!;
      const dot = part.lastIndexOf(".");
      const map = part.slice(0, dot);
      const index = Number(part.slice(dot + 1));
      st = this.child(st, map, index);
    }
    return st;
  }

  private child(parent: EpochState, map: string, index: number): EpochState {
    const children = (parent.children ??= new Map());
    let list = children.get(map);
    if (!list) children.set(map, (list = []));
    let st = list[index];
    if (!st) {
      st = new EpochState(subKey(parent.key, map, index), parent.depth + 1, parent.root, parent, index);
      list[index] = st;
    }
    return st;
  }

  private openSubEpochs(map: TubeNode, st: EpochState, count: number): void {
    (st.subCount ??= new Map()).set(map.id, count);
    for (let i = 0; i < count; i++) this.child(st, map.id, i);
    for (const node of this.collapsers.get(map.id) ?? []) if (this.local.has(node.id)) this.check(node, st.ancestor(node.scope.length));
  }

  private *descendants(st: EpochState, depth: number): Iterable<EpochState> {
    if (st.depth === depth) {
      yield st;
      return;
    }
    if (!st.children) return;
    for (const list of st.children.values()) for (const c of list) if (c) yield* this.descendants(c, depth);
  }

  private signalScope(e: Edge): readonly string[] {
    if (e.source.kind !== "node") return [];
    const up = this.tube.nodes.get(e.source.node)!;
    return up.definition.special === "map" && e.source.signal === "value" ? [...up.scope, up.id] : up.scope;
  }

  private read(e: Edge, st: EpochState): unknown {
    const src = e.source;
    if (src.kind === "asset") return assetMarker(src.name);
    if (src.kind === "input") {
      if (src.scope === "tube") return this.tube.input[src.name] ?? MISSING;
      const root = st.ancestor(0);
      if (!root.opened) return PENDING;
      return root.input[src.name] ?? MISSING;
    }
    const up = this.tube.nodes.get(src.node)!;
    const dU = up.scope.length;
    const dSig = dU + (up.definition.special === "map" && src.signal === "value" ? 1 : 0);
    const key = this.edgeSignal.get(e)!;
    if (dSig <= st.depth) {
      if (!st.ancestor(dU).done.has(src.node)) return PENDING;
      const v = st.ancestor(dSig).values.get(key);
      return v === undefined ? MISSING : v;
    }
    // Deeper: the list of the sub-epochs' values (flattened over every level, for return), once each is done.
    const scope = this.signalScope(e);
    const out: unknown[] = [];
    const collect = (sub: EpochState): boolean => {
      if (sub.depth === dSig) {
        if (!sub.ancestor(dU).done.has(src.node)) return false;
        const v = sub.values.get(key);
        if (v !== undefined) out.push(v);
        return true;
      }
      const map = scope[sub.depth]!;
      const count = sub.subCount?.get(map);
      if (!sub.done.has(map) || count === undefined) return false;
      const subs = sub.children?.get(map) ?? [];
      for (let i = 0; i < count; i++) if (!collect(subs[i]!)) return false;
      return true;
    };
    return collect(st) ? out : PENDING;
  }

  /** Whether the node's round-trip sources have completed the previous root epoch. */
  private previousDone(node: TubeNode, root: number): boolean {
    const prev = root - 1;
    if (this.firstRoot === undefined || prev < this.firstRoot || this.isClosed(prev)) return true;
    const ps = this.roots.get(prev);
    if (!ps) return false;
    for (const w of node.waitsForPrevious) if (!ps.done.has(w)) return false;
    return true;
  }

  private checkPreviousWaiters(nodeId: string, root: number): void {
    const waiters = this.previousWaiters.get(nodeId);
    if (!waiters) return;
    const next = this.roots.get(root + 1);
    if (!next) return;
    for (const w of waiters) {
      if (!this.local.has(w.id)) continue;
      for (const sub of this.descendants(next, w.scope.length)) this.check(w, sub);
    }
  }

  private inOrder(node: TubeNode, st: EpochState): boolean {
    if (st.depth === 0) {
      let next = this.nextRoot.get(node.id) ?? this.firstRoot;
      if (next === undefined) return false;
      // Epochs closed without this node (failed after a runner crash) do not hold the order back.
      while (next < st.root && this.isClosed(next)) next++;
      this.nextRoot.set(node.id, next);
      return next === st.root;
    }
    if (st.index === 0) return true;
    const prev = st.parent!.children?.get(node.scope[node.scope.length - 1]!)?.[st.index - 1];
    return prev !== undefined && prev.done.has(node.id);
  }

  private checkNextInOrder(node: TubeNode, st: EpochState): void {
    if (st.depth === 0) {
      this.nextRoot.set(node.id, st.root + 1);
      const next = this.roots.get(st.root + 1);
      if (next) this.check(node, next);
      return;
    }
    const next = st.parent!.children?.get(node.scope[node.scope.length - 1]!)?.[st.index + 1];
    if (next) this.check(node, next);
  }

  private check(node: TubeNode, st: EpochState): void {
    const id = node.id;
    if (st.done.has(id) || st.running.has(id)) return;
    if (node.stateful && !this.inOrder(node, st)) return;
    if (node.waitsForPrevious.length > 0 && !this.previousDone(node, st.root)) return;
    const inputs: Record<string, unknown> = { ...node.constSlots };
    for (const e of node.edges) {
      const v = this.read(e, st);
      if (v === PENDING) return;
      if (v !== MISSING) inputs[e.slot] = v;
    }
    // Sources (no edges) wait for the epoch to be opened; so do nodes reading only tube inputs.
    if (!st.ancestor(0).opened && node.edges.every((e) => e.source.kind !== "node")) return;
    st.running.add(id);
    let skip = !(this.enabledNow.get(id) ?? node.enabled);
    for (const slot of node.required) if (inputs[slot] === undefined) skip = true;
    if (!skip && node.definition.slots !== "any") {
      for (const [slot, spec] of Object.entries(node.definition.slots)) {
        if (inputs[slot] === undefined && spec.default !== undefined) inputs[slot] = spec.default;
      }
    }
    this.ready.push({ node, key: st.key, epoch: st.depth === 0 ? st.root : keyToEpoch(st.key), inputs: skip ? null : inputs });
  }

  private checkRootComplete(root: EpochState): void {
    if (root.complete || root.trackedRootDone < this.trackedRoot.length) return;
    for (const id of this.trackedDeep) if (!this.finished(this.tube.nodes.get(id)!, root, 0)) return;
    root.complete = true;
    this.completed.push(root.root);
  }

  /** Whether a node has completed every (sub-)epoch it has under `st`. */
  private finished(node: TubeNode, st: EpochState, level: number): boolean {
    if (level === node.scope.length) return st.done.has(node.id);
    const map = node.scope[level]!;
    const count = st.subCount?.get(map);
    if (count === undefined) return false;
    const subs = st.children?.get(map) ?? [];
    for (let i = 0; i < count; i++) if (!this.finished(node, subs[i]!, level + 1)) return false;
    return true;
  }
}
