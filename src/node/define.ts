/**
 * The node API: `defineNode` for typed nodes, and `toNodeDefinition`, which
 * accepts what a user may export as a node type (a definition, a plain
 * function, a generator function, or a class) and normalizes it.
 */
import type { ZodType } from "zod";
import { TubularError } from "../errors.ts";
import {
  isNodeDefinition,
  type InitContext,
  type NodeContext,
  type NodeDefinition,
  type NodeInstance,
  type SlotSpec,
} from "./definition.ts";

export interface ProcessContext<S> extends NodeContext {
  readonly state: S;
  readonly params: Readonly<Record<string, unknown>>;
}

export interface DefineNodeOptions<S> {
  /** Slot schemas. A slot whose schema accepts `undefined` (`.optional()`, `.default()`) is optional. */
  slots?: Record<string, ZodType>;
  /** Signal names, or schemas that each emitted value is checked against. Default: one signal `value`. */
  signals?: readonly string[] | Record<string, ZodType>;
  /** Default true: epochs run in order, one at a time. */
  stateful?: boolean;
  /** Builds the node's state from its params, once, before the first epoch. */
  init?: (params: Record<string, unknown>, ctx: InitContext) => S | Promise<S>;
  /** One epoch. Returns the signal's value (one signal) or an object keyed by signal; undefined or NoEvent = no event. */
  process: (inputs: Record<string, any>, ctx: ProcessContext<S>) => unknown;
  deinit?: (state: S) => void | Promise<void>;
}

/**
 * Defines a node type with typed, validated slots and signals.
 *
 * @example
 * export const scale = defineNode({
 *   slots: { value: z.number(), factor: z.number().default(2) },
 *   process: ({ value, factor }) => value * factor,
 * });
 */
export function defineNode<S = undefined>(options: DefineNodeOptions<S>): NodeDefinition {
  if (typeof options?.process !== "function") {
    throw new TubularError("TUBULAR_ERR_NODE_DEFINITION", "defineNode needs a process function");
  }
  const slots: Record<string, SlotSpec> = {};
  for (const [name, schema] of Object.entries(options.slots ?? {})) {
    const probe = schema.safeParse(undefined);
    slots[name] = probe.success ? { required: false, default: probe.data, schema } : { required: true, schema };
  }
  const signalSchemas = Array.isArray(options.signals) || options.signals === undefined ? undefined : (options.signals as Record<string, ZodType>);
  const signals = options.signals === undefined ? ["value"] : Array.isArray(options.signals) ? [...options.signals] : Object.keys(options.signals);
  const checks = Object.entries(slots)
    .filter(([, s]) => s.schema !== undefined)
    .map(([name, s]) => [name, slotCheck(s.schema!)] as const)
    .filter(([, check]) => check !== ANY);
  return Object.freeze({
    kind: "tubular.node" as const,
    slots,
    signals,
    stateful: options.stateful ?? true,
    ...(signalSchemas ? { signalSchemas } : {}),
    async create(params: Record<string, unknown>, ctx: InitContext): Promise<NodeInstance> {
      const state = options.init ? await options.init(params, ctx) : (undefined as S);
      return {
        process(inputs, nctx) {
          for (const [name, check] of checks) inputs[name] = check(inputs[name], name);
          // Field by field, not `{ ...nctx, state, params }`: on Node.js 20 a spread followed by more
          // properties took 2-3 µs a call (node alone, 1e6 calls: 2,400-3,600 ns against 30-50 ns; a bare
          // `{ ...o }` 40 ns), 27 % of a packed chain3 runner's CPU in free-run (--cpu-prof); chain3
          // free-run 27,720 -> 47,730 epochs/s. A field added to NodeContext must be added here.
          return options.process(inputs, { nodeId: nctx.nodeId, epoch: nctx.epoch, collapsed: nctx.collapsed, log: nctx.log, state, params });
        },
        ...(options.deinit ? { deinit: () => options.deinit!(state) } : {}),
      };
    },
  });
}

type SlotCheck = (value: unknown, slot: string) => unknown;

const ANY: SlotCheck = (value) => value;

function typeCheck(test: (v: unknown) => boolean, expected: string): SlotCheck {
  return (value, slot) => {
    if (!test(value)) throw new TypeError(`slot "${slot}": expected ${expected}, received ${value === null ? "null" : typeof value}`);
    return value;
  };
}

/**
 * The check of one slot, compiled once at definition: plain number, string
 * and boolean schemas (no refinements) become a typeof test, any/unknown no
 * test at all; every other schema goes through zod. Slot checks run on every
 * epoch of every node (bench/chain3-freerun.bench.ts: zod's safeParse was a
 * tenth of a runner's time).
 */
function slotCheck(schema: ZodType): SlotCheck {
  const def = (schema as unknown as { _zod?: { def?: { type?: string; checks?: unknown[] } } })._zod?.def;
  const plain = def !== undefined && (def.checks === undefined || def.checks.length === 0);
  if (plain && (def.type === "any" || def.type === "unknown")) return ANY;
  if (plain && def.type === "number") return typeCheck((v) => typeof v === "number" && Number.isFinite(v), "number");
  if (plain && def.type === "string") return typeCheck((v) => typeof v === "string", "string");
  if (plain && def.type === "boolean") return typeCheck((v) => typeof v === "boolean", "boolean");
  return (value, slot) => {
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw new TypeError(`slot "${slot}": ${parsed.error.issues.map((i) => i.message).join("; ")}`);
    return parsed.data;
  };
}

type AnyFunction = (...args: any[]) => any;

/**
 * Thrown by a source whose generator returned. Its name travels with the
 * node error (also from a runner process), and the runner ends a free-run
 * there cleanly rather than failing it (src/runner/epoch-runner.ts).
 */
export class SourceEnded extends Error {
  override name = "SourceEnded";
  constructor() {
    super("the source has no more values (its generator returned)");
  }
}

export function isClass(fn: AnyFunction): boolean {
  return /^class[\s{]/.test(Function.prototype.toString.call(fn)) || typeof fn.prototype?.process === "function";
}

function isGeneratorFunction(fn: AnyFunction): boolean {
  const name = fn.constructor?.name;
  return name === "GeneratorFunction" || name === "AsyncGeneratorFunction";
}

function slotsFromStatic(value: unknown): Record<string, SlotSpec> | "any" {
  if (Array.isArray(value)) return Object.fromEntries(value.map((n: string) => [n, { required: true }]));
  if (value && typeof value === "object") return value as Record<string, SlotSpec>;
  return "any";
}

/**
 * Normalizes what a module exports as a node type.
 * - a NodeDefinition (from defineNode): as is;
 * - a generator or async generator function: a source, called once with the
 *   params, one yielded value per epoch (no event once it is exhausted);
 * - a class: `new C(params)`, then `init?()`, `process(inputs)`, `deinit?()`;
 *   optional statics `signals` (names), `slots` (names), `stateful`;
 * - a plain function: called with one object holding its slots and params; one signal `value`.
 */
export function toNodeDefinition(x: unknown, name: string): NodeDefinition {
  if (isNodeDefinition(x)) return x;
  if (typeof x !== "function") {
    throw new TubularError("TUBULAR_ERR_NODE_DEFINITION", `node type "${name}" is not a node definition, function or class`);
  }
  const fn = x as AnyFunction & { signals?: string[]; slots?: unknown; stateful?: boolean };
  if (isGeneratorFunction(fn)) {
    return Object.freeze({
      kind: "tubular.node" as const,
      slots: {},
      // A static `signals` names them; with several, each yielded value is an object keyed by signal.
      signals: fn.signals ?? ["value"],
      stateful: fn.stateful ?? true,
      create(params: Record<string, unknown>): NodeInstance {
        const it = fn(params) as Iterator<unknown> | AsyncIterator<unknown>;
        let exhausted = false;
        return {
          process() {
            if (exhausted) throw new SourceEnded();
            const step = it.next();
            const take = (r: IteratorResult<unknown>) => {
              if (r.done) {
                exhausted = true;
                throw new SourceEnded();
              }
              return r.value;
            };
            return step instanceof Promise ? step.then(take) : take(step);
          },
          deinit: async () => {
            await it.return?.(undefined);
          },
        };
      },
    });
  }
  if (isClass(fn)) {
    const Ctor = fn as unknown as new (params: Record<string, unknown>) => {
      init?: () => unknown;
      process: (inputs: Record<string, unknown>, ctx: NodeContext) => unknown;
      deinit?: () => unknown;
    };
    return Object.freeze({
      kind: "tubular.node" as const,
      slots: slotsFromStatic(fn.slots),
      signals: fn.signals ?? ["value"],
      stateful: fn.stateful ?? true,
      async create(params: Record<string, unknown>): Promise<NodeInstance> {
        const obj = new Ctor(params);
        if (typeof obj.process !== "function") {
          throw new TubularError("TUBULAR_ERR_NODE_DEFINITION", `class node "${name}" has no process method`);
        }
        await obj.init?.();
        return {
          process: (inputs, ctx) => obj.process(inputs, ctx),
          ...(obj.deinit ? { deinit: async () => void (await obj.deinit!()) } : {}),
        };
      },
    });
  }
  return Object.freeze({
    kind: "tubular.node" as const,
    slots: "any" as const,
    signals: fn.signals ?? ["value"],
    stateful: fn.stateful ?? false,
    create(params: Record<string, unknown>): NodeInstance {
      return { process: (inputs) => fn({ ...params, ...inputs }) };
    },
  });
}
