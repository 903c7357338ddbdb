/**
 * The normalized form every node type is turned into, whatever the user wrote
 * (defineNode, a plain function, a generator, a class). Runners only ever see
 * this shape.
 */
import type { ZodType } from "zod";
import type { Epoch } from "../graph/epoch.ts";

/** Returned (or used as a signal's value) to say "this signal has no event in this epoch". */
export const NoEvent: unique symbol = Symbol.for("tubular.NoEvent");
export type NoEvent = typeof NoEvent;

export interface SlotSpec {
  /** A required slot with no event in an epoch keeps the node from running in it. */
  readonly required: boolean;
  /** Used for an optional slot that got no event. */
  readonly default?: unknown;
  readonly schema?: ZodType;
}

/** What a running node instance may know of where it runs. */
export interface NodeContext {
  readonly nodeId: string;
  readonly epoch: Epoch;
  /** Slots whose value is the list of a deeper map scope's values (see gather). */
  readonly collapsed: ReadonlySet<string>;
  /** Logs a metric of the tracked run (step: the epoch when not given); call it as `ctx.log(...)`. */
  readonly log?: (name: string, value: unknown, step?: number) => void;
}

/** A graph run inside a node (the `tube` node): what the runner hands out for it. */
export interface ChildRun {
  init(): Promise<void>;
  /** Runs one child epoch; `at`, the parent's epoch, is the step of the child's metrics that give none (else the child's own epoch). */
  process(input?: Record<string, unknown>, at?: Epoch): Promise<unknown>;
  deinit(): Promise<void>;
}

export interface InitContext {
  readonly nodeId: string;
  /** Directory of the graph file, for nodes that read files relative to it. */
  readonly baseDir: string;
  /** Runs a child graph in this process (given by the runner; used by the `tube` node). */
  readonly runChild?: (tube: unknown) => ChildRun;
}

export interface NodeInstance {
  /**
   * Runs one epoch. For a node with one signal the result is that signal's
   * value; for several, an object keyed by signal. `undefined` or `NoEvent`
   * (for the whole result or one key) means no event.
   */
  process(inputs: Record<string, unknown>, ctx: NodeContext): unknown;
  deinit?(): void | Promise<void>;
}

export type SpecialKind = "return" | "map" | "gather" | "tube";

export interface NodeDefinition {
  readonly kind: "tubular.node";
  /** Declared slots, or "any" when the node takes whatever its `depends` names (plain functions). */
  readonly slots: Readonly<Record<string, SlotSpec>> | "any";
  readonly signals: readonly string[];
  /** Stateful nodes run their epochs in order, one at a time. */
  readonly stateful: boolean;
  readonly special?: SpecialKind;
  readonly signalSchemas?: Readonly<Record<string, ZodType>>;
  create(params: Record<string, unknown>, ctx: InitContext): NodeInstance | Promise<NodeInstance>;
}

export function isNodeDefinition(x: unknown): x is NodeDefinition {
  return typeof x === "object" && x !== null && (x as { kind?: unknown }).kind === "tubular.node";
}

/** Turns a node's result into [signal, value] pairs, leaving out signals with no event. */
export function emissions(def: NodeDefinition, result: unknown): Array<[string, unknown]> {
  if (result === undefined || result === NoEvent) return [];
  if (def.signals.length === 1) return [[def.signals[0] as string, result]];
  if (typeof result !== "object" || result === null) {
    throw new TypeError(`a node with signals ${def.signals.join(", ")} must return an object keyed by signal`);
  }
  const out: Array<[string, unknown]> = [];
  for (const signal of def.signals) {
    const value = (result as Record<string, unknown>)[signal];
    if (value !== undefined && value !== NoEvent) out.push([signal, value]);
  }
  return out;
}
