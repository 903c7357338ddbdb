/**
 * Assets: objects the nodes of a graph share (a connection, a counter, a
 * buffer), declared under `assets:` and read with `assets.NAME` in a node's
 * `depends` (or params). One AssetStore per process runs them; runners only
 * create it (through `instantiate`) and tell it when a root epoch ends.
 *
 * An asset type is a module export:
 * - a function, called with the asset's params: its result is the asset; if
 *   it returns a generator (sync or async), it is "entered" by running it to
 *   its first `yield` (whose value is the asset) and "exited" at release by
 *   `return()`, which runs its `finally` (Python's @contextmanager);
 * - a class: `new C(params)` is the asset.
 * An asset with `[Symbol.dispose]` / `[Symbol.asyncDispose]` is disposed at release.
 *
 * Scopes (as noob's): `runner` is made at init and released at deinit;
 * `process` is made for each root epoch (on first use) and released when the
 * epoch ends; `node` is made for each node call and released right after it.
 * `depends: n.s` (runner scope only): when node `n` emits `s`, a copy of that
 * value becomes the asset for the next epoch (no copy when no node reads `n.s`).
 */
import { TubularError } from "../errors.ts";
import { ASSET_MARK } from "../graph/scheduler.ts";
import type { Tube, TubeNode } from "../graph/tube.ts";
import type { AssetSpec } from "../spec/schema.ts";
import { copyAsset } from "./asset-copy.ts";
import { isClass } from "./define.ts";
import { emissions, type NodeContext, type NodeInstance } from "./definition.ts";
import { importTypeExport } from "./registry.ts";

/** The key under which `instantiate` keeps the store among the node instances (released last). */
export const ASSET_STORE = "\u0000assets";

interface Held {
  value: unknown;
  release: () => unknown;
}

type Factory = (params: unknown) => unknown;

function isIterator(x: unknown): x is Iterator<unknown> | AsyncIterator<unknown> {
  return typeof x === "object" && x !== null && typeof (x as { next?: unknown }).next === "function" && typeof (x as { return?: unknown }).return === "function";
}

async function enter(factory: Factory, params: unknown, name: string): Promise<Held> {
  let made: unknown;
  try {
    made = await factory(params);
  } catch (err) {
    throw new TubularError("TUBULAR_ERR_NODE_INIT", `asset "${name}" could not be made: ${(err as Error).message}`, { asset: name }, { cause: err });
  }
  if (isIterator(made)) {
    const step = await made.next();
    if (step.done) throw new TubularError("TUBULAR_ERR_NODE_INIT", `asset "${name}": its generator returned without yielding the asset`, { asset: name });
    return { value: step.value, release: () => made.return?.(undefined) };
  }
  const disposable = made as { [Symbol.asyncDispose]?: () => unknown; [Symbol.dispose]?: () => unknown } | null;
  const dispose = typeof made === "object" && made !== null ? (disposable![Symbol.asyncDispose] ?? disposable![Symbol.dispose]) : undefined;
  return { value: made, release: () => dispose?.call(made) };
}

function rootOf(ctx: NodeContext): number {
  return typeof ctx.epoch === "number" ? ctx.epoch : ctx.epoch[0];
}

export class AssetStore {
  private readonly factories = new Map<string, Factory>();
  /** Runner-scoped: what was entered (released at deinit) and the current value (replaced by the round-trip). */
  private readonly runnerHeld = new Map<string, Held>();
  private readonly runnerValue = new Map<string, unknown>();
  /** Process-scoped, per root epoch; a promise while being made. */
  private readonly processHeld = new Map<number, Map<string, Held | Promise<Held>>>();
  /** Node -> the assets it refreshes: [asset, signal, copy?]. */
  private readonly refreshes = new Map<string, Array<[string, string, boolean]>>();

  private constructor(private readonly tube: Tube) {}

  /** The store for the given nodes of the tube (all by default), its runner-scoped assets made; undefined when they use none. */
  static async open(tube: Tube, only?: ReadonlySet<string>): Promise<AssetStore | undefined> {
    const specs = tube.assets ?? {};
    if (Object.keys(specs).length === 0) return undefined;
    const used = new Set<string>();
    const local = [...tube.nodes.values()].filter((n) => (!only || only.has(n.id)) && n.enabled);
    for (const n of local) {
      for (const e of n.edges) if (e.source.kind === "asset") used.add(e.source.name);
      for (const a of Object.values(n.assetParams)) used.add(a);
    }
    const store = new AssetStore(tube);
    for (const [id, spec] of Object.entries(specs)) {
      if (!spec.depends) continue;
      const dot = spec.depends.indexOf(".");
      const [node, signal] = [spec.depends.slice(0, dot), spec.depends.slice(dot + 1)];
      if (!local.some((n) => n.id === node)) continue;
      // As noob: no copy when nothing else reads the signal, since nothing can mutate it after it is stored.
      const read = [...tube.nodes.values()].some((n) => n.edges.some((e) => e.source.kind === "node" && e.source.node === node && e.source.signal === signal));
      store.refreshes.set(node, [...(store.refreshes.get(node) ?? []), [id, signal, read]]);
      used.add(id);
    }
    if (used.size === 0) return undefined;
    for (const id of used) store.factories.set(id, await resolveFactory(specs[id]!, tube, id));
    try {
      for (const id of used) {
        if (specs[id]!.scope !== "runner") continue;
        const held = await enter(store.factories.get(id)!, specs[id]!.params ?? {}, id);
        store.runnerHeld.set(id, held);
        store.runnerValue.set(id, held.value);
      }
    } catch (err) {
      await store.release();
      throw err;
    }
    return store;
  }

  /** The node's params with its "assets.NAME" params given the runner-scoped objects. */
  params(node: TubeNode, params: Record<string, unknown>): Record<string, unknown> {
    const entries = Object.entries(node.assetParams);
    if (entries.length === 0) return params;
    const out = { ...params };
    for (const [k, a] of entries) out[k] = this.runnerValue.get(a);
    return out;
  }

  /** The instance as the runner calls it: asset slots filled, node-scoped assets made and released around the call, round-trips stored. */
  wrap(node: TubeNode, inner: NodeInstance): NodeInstance {
    const slots = node.edges.filter((e) => e.source.kind === "asset").map((e) => [e.slot, (e.source as { name: string }).name] as const);
    const refresh = this.refreshes.get(node.id);
    if (slots.length === 0 && !refresh) return inner;
    const spec = (a: string): AssetSpec => this.tube.assets[a]!;
    const needsAsync = slots.some(([, a]) => spec(a).scope !== "runner");
    const after = (result: unknown): unknown => {
      if (refresh) {
        const pairs = emissions(node.definition, result);
        for (const [asset, signal, copy] of refresh) {
          const hit = pairs.find(([s]) => s === signal);
          if (hit) this.runnerValue.set(asset, copy ? copyAsset(hit[1]) : hit[1]);
        }
      }
      return result;
    };
    const store = this;
    if (!needsAsync) {
      return {
        process(inputs, ctx) {
          for (const [slot, a] of slots) if (isMarker(inputs[slot])) inputs[slot] = store.runnerValue.get(a);
          const r = inner.process(inputs, ctx);
          return r instanceof Promise ? r.then(after) : after(r);
        },
        ...(inner.deinit ? { deinit: () => inner.deinit!() } : {}),
      };
    }
    return {
      async process(inputs, ctx) {
        const perCall: Held[] = [];
        try {
          for (const [slot, a] of slots) {
            if (!isMarker(inputs[slot])) continue;
            const scope = spec(a).scope;
            if (scope === "runner") inputs[slot] = store.runnerValue.get(a);
            else if (scope === "process") inputs[slot] = (await store.processAsset(a, rootOf(ctx))).value;
            else {
              const held = await enter(store.factories.get(a)!, spec(a).params ?? {}, a);
              perCall.push(held);
              inputs[slot] = held.value;
            }
          }
          return after(await inner.process(inputs, ctx));
        } finally {
          for (const held of perCall.reverse()) await held.release();
        }
      },
      ...(inner.deinit ? { deinit: () => inner.deinit!() } : {}),
    };
  }

  private async processAsset(a: string, root: number): Promise<Held> {
    let byName = this.processHeld.get(root);
    if (!byName) this.processHeld.set(root, (byName = new Map()));
    const have = byName.get(a);
    if (have) return have;
    const making = enter(this.factories.get(a)!, this.tube.assets[a]!.params ?? {}, a);
    byName.set(a, making);
    const held = await making;
    if (byName.get(a) === making) byName.set(a, held);
    return held;
  }

  /**
   * Releases the process-scoped assets of a root epoch that ended.
   * Synchronous when their releases are (a generator's `finally`, a
   * `[Symbol.dispose]`), so they are released before the epoch's result is
   * reported; otherwise the returned promise settles once they are.
   */
  endEpoch(root: number): void | Promise<void> {
    const byName = this.processHeld.get(root);
    if (!byName) return;
    this.processHeld.delete(root);
    const pending: Promise<unknown>[] = [];
    for (const held of [...byName.values()].reverse()) {
      const r = held instanceof Promise ? held.then((h) => h.release()) : held.release();
      if (r instanceof Promise) pending.push(r);
    }
    if (pending.length > 0) return Promise.all(pending).then(() => undefined);
  }

  /** Releases everything still held (process-scoped ones of unfinished epochs, then runner-scoped). */
  async release(): Promise<void> {
    for (const root of [...this.processHeld.keys()]) await this.endEpoch(root);
    for (const [id, held] of [...this.runnerHeld].reverse()) {
      this.runnerHeld.delete(id);
      await held.release();
    }
    this.runnerValue.clear();
  }

  /** The store as an entry among the node instances, so that releasing the instances releases it. */
  asInstance(): NodeInstance & { readonly store: AssetStore } {
    return {
      store: this,
      process: () => {
        throw new TubularError("TUBULAR_ERR_NODE_DEFINITION", "the asset store is not a node");
      },
      deinit: () => this.release(),
    };
  }
}

function isMarker(v: unknown): boolean {
  return typeof v === "object" && v !== null && ASSET_MARK in v;
}

async function resolveFactory(spec: AssetSpec, tube: Tube, id: string): Promise<Factory> {
  let exported: unknown;
  try {
    exported = await importTypeExport(spec.type, tube.baseDir);
  } catch (err) {
    throw new TubularError("TUBULAR_ERR_SPEC_UNKNOWN_TYPE", `${tube.file}: assets.${id}.type: ${(err as Error).message}`, { file: tube.file, path: `assets.${id}.type` }, { cause: err });
  }
  if (typeof exported !== "function") {
    throw new TubularError("TUBULAR_ERR_SPEC_UNKNOWN_TYPE", `${tube.file}: assets.${id}.type: "${spec.type}" is not a function or class`, { file: tube.file, path: `assets.${id}.type` });
  }
  const fn = exported as (...args: unknown[]) => unknown;
  if (isClass(fn)) {
    const C = fn as unknown as new (...args: unknown[]) => unknown;
    return (params) => (Array.isArray(params) ? new C(...params) : new C(params));
  }
  return (params) => (Array.isArray(params) ? fn(...params) : fn(params));
}

/** Called by a runner when a root epoch ended: releases that epoch's process-scoped assets. */
export function endAssetEpoch(instances: ReadonlyMap<string, NodeInstance>, root: number): void | Promise<void> {
  const entry = instances.get(ASSET_STORE) as { store?: AssetStore } | undefined;
  return entry?.store?.endEpoch(root);
}
