/**
 * Running node code, shared by every runner: instantiating a tube's nodes,
 * and turning one scheduler task into the node's emitted values.
 */
import { NodeError } from "../errors.ts";
import { subKey } from "../graph/epoch.ts";
import type { Emitted, Task } from "../graph/scheduler.ts";
import type { Tube, TubeNode } from "../graph/tube.ts";
import { emissions, type ChildRun, type NodeInstance } from "../node/definition.ts";
import { AssetStore, ASSET_STORE } from "../node/assets.ts";
import { dropMetric, type LogContext } from "../node/metrics.ts";

export type Instances = Map<string, NodeInstance>;

/** Runs the child graph of the `tube` node `nodeId` (see `nestedRuns` in local.ts). */
export type RunChild = (child: Tube, nodeId: string) => ChildRun;

/**
 * Creates the instances of the given nodes (all by default), in topological
 * order. `runChild` runs the child graph of a `tube` node.
 */
export async function instantiate(tube: Tube, runChild: RunChild, only?: ReadonlySet<string>, into?: Instances): Promise<Instances> {
  const instances: Instances = new Map();
  try {
    // Assets first (runner-scoped ones are made now), so they are released after every node;
    // a node added later (enabled at run time) joins the store already there.
    const existing = into?.get(ASSET_STORE) as { store?: AssetStore } | undefined;
    const assets = existing?.store ?? (await AssetStore.open(tube, only));
    if (assets && !existing) instances.set(ASSET_STORE, assets.asInstance());
    for (const id of tube.order) {
      if (only && !only.has(id)) continue;
      const node = tube.nodes.get(id)!;
      if (!node.enabled && !into) continue;
      try {
        const params = assets ? assets.params(node, { ...node.params }) : { ...node.params };
        const instance = await node.definition.create(params, { nodeId: id, baseDir: tube.baseDir, runChild: (child) => runChild(child as Tube, id) });
        instances.set(id, assets ? assets.wrap(node, instance) : instance);
      } catch (err) {
        throw NodeError.from(id, undefined, err, "TUBULAR_ERR_NODE_INIT");
      }
    }
  } catch (err) {
    await release(instances);
    throw err;
  }
  return instances;
}

/** Runs every instance's deinit, in reverse order; collects the failures rather than stopping at the first. */
export async function release(instances: Instances): Promise<Error[]> {
  const errors: Error[] = [];
  for (const [id, inst] of [...instances].reverse()) {
    try {
      await inst.deinit?.();
    } catch (err) {
      errors.push(NodeError.from(id, undefined, err));
    }
  }
  instances.clear();
  return errors;
}

/** What a node's result becomes: events in its epoch, and for a map one `value` per sub-epoch. */
export function toEmitted(node: TubeNode, key: string, result: unknown): Emitted[] {
  const pairs = emissions(node.definition, result);
  if (node.definition.special !== "map") return pairs.map(([signal, value]) => ({ signal, key, value }));
  const out: Emitted[] = [];
  for (const [signal, value] of pairs) {
    if (signal === "value") (value as unknown[]).forEach((item, i) => out.push({ signal, key: subKey(key, node.id, i), value: item }));
    else out.push({ signal, key, value });
  }
  return out;
}

/**
 * Runs one task. Returns the emitted values, synchronously when the node is
 * synchronous (the hot path of free-run), else a promise. Throws NodeError.
 */
export function execute(instance: NodeInstance, task: Task, log: (this: LogContext, name: string, value: unknown, step?: number) => void = dropMetric): Emitted[] | Promise<Emitted[]> {
  const { node, key } = task;
  let result: unknown;
  try {
    result = instance.process(task.inputs!, { nodeId: node.id, epoch: task.epoch, collapsed: node.collapsed, log });
  } catch (err) {
    throw NodeError.from(node.id, task.epoch, err);
  }
  if (result instanceof Promise) {
    return result.then(
      (r) => checked(node, key, task, r),
      (err) => {
        throw NodeError.from(node.id, task.epoch, err);
      },
    );
  }
  return checked(node, key, task, result);
}

function checked(node: TubeNode, key: string, task: Task, result: unknown): Emitted[] {
  try {
    return toEmitted(node, key, result);
  } catch (err) {
    throw NodeError.from(node.id, task.epoch, err);
  }
}
