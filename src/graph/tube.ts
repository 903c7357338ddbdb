/**
 * Tube: a validated graph, ready to run. Built from a spec whose node types
 * are already resolved to definitions; pure (no files, no imports), so every
 * runner process can rebuild the same Tube from the same spec.
 */
import { SpecError } from "../errors.ts";
import type { NodeDefinition } from "../node/definition.ts";
import { returnNode, type ReturnShape } from "../node/special/return.ts";
import type { InputSpec, NodeSpec, TubeSpec } from "../spec/schema.ts";
import { inputMatchesType } from "../spec/input-types.ts";

export type EdgeSource =
  | { readonly kind: "node"; readonly node: string; readonly signal: string }
  | { readonly kind: "input"; readonly name: string; readonly scope: "tube" | "process" };

export interface Edge {
  readonly slot: string;
  readonly source: EdgeSource;
}

export interface Placement {
  readonly group?: string;
  /** A process of its own, whatever the packing (spec `isolate: true`). */
  readonly isolate?: boolean;
  readonly host?: string;
  readonly labels?: readonly string[];
  readonly restart: "never" | "on-failure" | "always";
  readonly maxRestarts: number;
}

export interface TubeNode {
  readonly id: string;
  readonly type: string;
  readonly definition: NodeDefinition;
  /** Params with tube inputs ("input.k") substituted. */
  readonly params: Readonly<Record<string, unknown>>;
  /** Slot values supplied by params (constant in every epoch). */
  readonly constSlots: Readonly<Record<string, unknown>>;
  readonly edges: readonly Edge[];
  readonly signals: readonly string[];
  readonly enabled: boolean;
  readonly stateful: boolean;
  /** The map nodes this node runs inside, outermost first: it runs once per sub-epoch of the innermost. */
  readonly scope: readonly string[];
  /** Slots that read one map level deeper and get the list of the sub-epochs' values. */
  readonly collapsed: ReadonlySet<string>;
  /** Whether a slot must have an event for the node to run. */
  readonly required: ReadonlySet<string>;
  readonly placement: Placement;
}

export interface Tube {
  readonly id: string;
  /** The file the tube came from ("<inline>" for a spec object). */
  readonly file: string;
  readonly baseDir: string;
  /** The merged spec (extends resolved): what a runner process rebuilds the tube from. */
  readonly spec: TubeSpec;
  readonly inputs: Readonly<Record<string, InputSpec>>;
  /** The tube-scoped input values, defaults applied. */
  readonly input: Readonly<Record<string, unknown>>;
  readonly nodes: ReadonlyMap<string, TubeNode>;
  /** Node ids in a topological order. */
  readonly order: readonly string[];
  readonly downstream: ReadonlyMap<string, readonly string[]>;
  readonly returnNode: string | undefined;
  readonly returnShape: ReturnShape | undefined;
}

const INPUT = "input";

function parseRef(ref: string): [string, string] {
  const dot = ref.indexOf(".");
  return [ref.slice(0, dot), ref.slice(dot + 1)];
}

interface RawEdge {
  slot: string;
  ref: string;
  path: string;
}

/** Normalizes `depends` into (slot, ref) pairs; see docs/architecture.md for how bare refs bind to slots. */
function rawEdges(id: string, spec: NodeSpec, def: NodeDefinition | "return"): { edges: RawEdge[]; shape?: ReturnShape } {
  const base = `nodes.${id}.depends`;
  const deps = spec.depends;
  if (deps === undefined) return { edges: [], ...(def === "return" ? { shape: { kind: "scalar" } as const } : {}) };
  if (def === "return") {
    if (typeof deps === "string") return { edges: [{ slot: "value", ref: deps, path: base }], shape: { kind: "scalar" } };
    if (deps.every((d) => typeof d === "string")) {
      return { edges: deps.map((ref, i) => ({ slot: String(i), ref: ref as string, path: `${base}[${i}]` })), shape: { kind: "list", length: deps.length } };
    }
    const edges = deps.map((d, i) => {
      if (typeof d === "string") return { slot: parseRef(d)[1], ref: d, path: `${base}[${i}]` };
      const [slot, ref] = Object.entries(d)[0] as [string, string];
      return { slot, ref, path: `${base}[${i}].${slot}` };
    });
    return { edges, shape: { kind: "object", keys: edges.map((e) => e.slot) } };
  }
  const declared = def.slots === "any" ? [] : Object.keys(def.slots);
  const bare = (ref: string): string => (declared.length === 1 ? (declared[0] as string) : parseRef(ref)[1]);
  if (typeof deps === "string") return { edges: [{ slot: bare(deps), ref: deps, path: base }] };
  return {
    edges: deps.map((d, i) => {
      if (typeof d === "string") return { slot: bare(d), ref: d, path: `${base}[${i}]` };
      const [slot, ref] = Object.entries(d)[0] as [string, string];
      return { slot, ref, path: `${base}[${i}].${slot}` };
    }),
  };
}

function resolveTubeInput(value: unknown, inputs: Record<string, InputSpec>, input: Record<string, unknown>, file: string, path: string): unknown {
  if (typeof value !== "string" || !value.startsWith(`${INPUT}.`)) return value;
  const name = value.slice(INPUT.length + 1);
  const decl = inputs[name];
  if (!decl) throw new SpecError("TUBULAR_ERR_SPEC_MISSING_REF", file, path, `"${value}" names no declared input`);
  if (decl.scope !== "tube") {
    throw new SpecError("TUBULAR_ERR_SPEC_SCOPE", file, path, `"${value}" is a process-scoped input; params and enabled take tube-scoped inputs only`);
  }
  return input[name];
}

/** Applies defaults and checks the tube-scoped inputs; names the first missing one. */
export function resolveTubeInputs(
  inputs: Record<string, InputSpec>,
  given: Record<string, unknown>,
  file: string,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, decl] of Object.entries(inputs)) {
    if (decl.scope !== "tube") continue;
    const value = given[name] !== undefined ? given[name] : decl.default;
    const required = decl.required ?? decl.default === undefined;
    if (value === undefined) {
      if (required) throw new SpecError("TUBULAR_ERR_INPUT_MISSING", file, `input.${name}`, `required tube input "${name}" was not given`);
      continue;
    }
    if (!inputMatchesType(value, decl.type)) {
      throw new SpecError("TUBULAR_ERR_INPUT_INVALID", file, `input.${name}`, `tube input "${name}" must be of type ${decl.type}, got ${JSON.stringify(value)}`);
    }
    out[name] = value;
  }
  for (const name of Object.keys(given)) {
    if (!inputs[name]) throw new SpecError("TUBULAR_ERR_SPEC_MISSING_REF", file, `input.${name}`, `input "${name}" was given but the graph declares no such input`);
  }
  return out;
}

export interface BuildTubeOptions {
  file: string;
  baseDir: string;
  input?: Record<string, unknown>;
}

/**
 * Validates a spec's structure beyond its schema (references, signals, cycles,
 * scopes, one return node) and builds the Tube. Every error names the file,
 * the path and the reason.
 */
export function buildTube(spec: TubeSpec, definitions: ReadonlyMap<string, NodeDefinition>, options: BuildTubeOptions): Tube {
  const { file } = options;
  const inputs = spec.input ?? {};
  const input = resolveTubeInputs(inputs, options.input ?? {}, file);
  const ids = Object.keys(spec.nodes);

  const returnIds = ids.filter((id) => spec.nodes[id]!.type === "return");
  if (returnIds.length > 1) {
    throw new SpecError("TUBULAR_ERR_SPEC_RETURN", file, `nodes.${returnIds[1]}`, `a graph has at most one return node; found ${returnIds.join(", ")}`);
  }

  // First pass: edges and params, per node.
  interface Draft {
    id: string;
    spec: NodeSpec;
    def: NodeDefinition;
    edges: Array<Edge & { path: string }>;
    params: Record<string, unknown>;
    shape?: ReturnShape;
  }
  const drafts = new Map<string, Draft>();
  let returnShape: ReturnShape | undefined;
  for (const id of ids) {
    const nspec = spec.nodes[id]!;
    const isReturn = nspec.type === "return";
    const { edges: raw, shape } = rawEdges(id, nspec, isReturn ? "return" : definitions.get(id)!);
    const def = isReturn ? returnNode(shape!) : definitions.get(id)!;
    if (isReturn) returnShape = shape;
    const params: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(nspec.params ?? {})) params[k] = resolveTubeInput(v, inputs, input, file, `nodes.${id}.params.${k}`);
    const edges = raw.map(({ slot, ref, path }) => {
      const [head, tail] = parseRef(ref);
      if (head === INPUT) {
        const decl = inputs[tail];
        if (!decl) throw new SpecError("TUBULAR_ERR_SPEC_MISSING_REF", file, path, `"${ref}" names no declared input`);
        return { slot, path, source: { kind: "input" as const, name: tail, scope: decl.scope } };
      }
      return { slot, path, source: { kind: "node" as const, node: head, signal: tail } };
    });
    drafts.set(id, { id, spec: nspec, def, edges, params, ...(shape ? { shape } : {}) });
  }

  // References: nodes and signals exist.
  for (const d of drafts.values()) {
    for (const e of d.edges) {
      if (e.source.kind !== "node") continue;
      const up = drafts.get(e.source.node);
      const ref = `${e.source.node}.${e.source.signal}`;
      if (!up) throw new SpecError("TUBULAR_ERR_SPEC_MISSING_REF", file, e.path, `"${ref}": there is no node "${e.source.node}"`);
      if (!up.def.signals.includes(e.source.signal)) {
        throw new SpecError("TUBULAR_ERR_SPEC_MISSING_REF", file, e.path, `"${ref}": node "${e.source.node}" has no signal "${e.source.signal}" (it has ${up.def.signals.join(", ") || "none"})`);
      }
      if (d.def.slots !== "any" && !(e.slot in d.def.slots)) {
        throw new SpecError("TUBULAR_ERR_SPEC_MISSING_REF", file, e.path, `node "${d.id}" (${d.spec.type}) has no slot "${e.slot}" (it has ${Object.keys(d.def.slots).join(", ") || "none"})`);
      }
    }
  }

  const order = topologicalOrder(drafts, file);

  // Scopes: which map each node runs inside.
  const scopes = new Map<string, string[]>();
  const collapsedOf = new Map<string, Set<string>>();
  for (const id of order) {
    const d = drafts.get(id)!;
    const collapsed = new Set<string>();
    const sigScope = (e: Edge): string[] => {
      if (e.source.kind !== "node") return [];
      const up = drafts.get(e.source.node)!;
      const s = scopes.get(e.source.node)!;
      return up.def.special === "map" && e.source.signal === "value" ? [...s, up.id] : s;
    };
    let scope: string[] = [];
    const consider = (s: string[], path: string) => {
      const [short, long] = s.length <= scope.length ? [s, scope] : [scope, s];
      if (short.some((m, i) => long[i] !== m)) {
        throw new SpecError("TUBULAR_ERR_SPEC_SCOPE", file, path, `node "${id}" mixes values from different maps (${scope.join(">") || "root"} and ${s.join(">") || "root"})`);
      }
      if (s.length > scope.length) scope = s;
    };
    if (d.def.special !== "return") {
      for (const e of d.edges) {
        const s = sigScope(e);
        consider(d.def.special === "gather" && e.slot === "value" && s.length > 0 ? s.slice(0, -1) : s, e.path);
      }
    }
    for (const e of d.edges) {
      const s = sigScope(e);
      if (s.length === scope.length + 1) collapsed.add(e.slot);
      else if (s.length > scope.length + 1) {
        throw new SpecError("TUBULAR_ERR_SPEC_SCOPE", file, e.path, `node "${id}" reads "${(e.source as { node: string }).node}" from ${s.length - scope.length} map levels deeper; gather one level at a time`);
      }
    }
    scopes.set(id, scope);
    collapsedOf.set(id, collapsed);
  }

  const nodes = new Map<string, TubeNode>();
  const downstream = new Map<string, string[]>(ids.map((id) => [id, []]));
  for (const id of order) {
    const d = drafts.get(id)!;
    for (const e of d.edges) if (e.source.kind === "node") {
      const list = downstream.get(e.source.node)!;
      if (!list.includes(id)) list.push(id);
    }
    const slotNames = d.def.slots === "any" ? [] : Object.keys(d.def.slots);
    const constSlots: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(d.params)) if (d.def.slots === "any" || slotNames.includes(k)) constSlots[k] = v;
    const required = new Set<string>();
    if (d.def.special !== "return") {
      if (d.def.slots === "any") for (const e of d.edges) required.add(e.slot);
      else for (const [name, s] of Object.entries(d.def.slots)) if (s.required && !(name in constSlots)) required.add(name);
    }
    // A required slot that nothing feeds can never have an event: say so now rather than never run.
    for (const slot of required) {
      if (!d.edges.some((e) => e.slot === slot)) {
        throw new SpecError("TUBULAR_ERR_SPEC_MISSING_REF", file, `nodes.${id}`, `node "${id}" (${d.spec.type}) needs slot "${slot}": add it to depends or params`);
      }
    }
    // A node cannot both share a group's process and have one of its own.
    if (d.spec.isolate && d.spec.group) throw new SpecError("TUBULAR_ERR_SPEC_INVALID", file, `nodes.${id}.isolate`, `node "${id}" has both isolate: true and group "${d.spec.group}": choose one`);
    const enabled = resolveTubeInput(d.spec.enabled ?? true, inputs, input, file, `nodes.${id}.enabled`);
    nodes.set(id, Object.freeze({
      id,
      type: d.spec.type,
      definition: d.def,
      params: Object.freeze(d.params),
      constSlots: Object.freeze(constSlots),
      edges: Object.freeze(d.edges.map(({ slot, source }) => ({ slot, source }))),
      signals: d.def.signals,
      enabled: enabled !== false,
      stateful: d.spec.stateful ?? d.def.stateful,
      scope: Object.freeze(scopes.get(id)!),
      collapsed: collapsedOf.get(id)!,
      required,
      placement: Object.freeze({
        ...(d.spec.group ? { group: d.spec.group } : {}),
        ...(d.spec.isolate ? { isolate: true } : {}),
        ...(d.spec.host ? { host: d.spec.host } : {}),
        ...(d.spec.labels ? { labels: d.spec.labels } : {}),
        restart: d.spec.restart ?? "never",
        maxRestarts: d.spec.max_restarts ?? 3,
      }),
    }));
  }

  return Object.freeze({
    id: spec.noob_id ?? spec.id ?? "tube",
    file,
    baseDir: options.baseDir,
    spec,
    inputs,
    input: Object.freeze(input),
    nodes,
    order,
    downstream,
    returnNode: returnIds[0],
    returnShape,
  });
}

function topologicalOrder(drafts: ReadonlyMap<string, { edges: ReadonlyArray<Edge> }>, file: string): string[] {
  const order: string[] = [];
  const state = new Map<string, "visiting" | "done">();
  const stack: string[] = [];
  const visit = (id: string) => {
    const s = state.get(id);
    if (s === "done") return;
    if (s === "visiting") {
      const cycle = [...stack.slice(stack.indexOf(id)), id];
      throw new SpecError("TUBULAR_ERR_SPEC_CYCLE", file, `nodes.${id}.depends`, `the graph has a cycle: ${cycle.join(" -> ")}`);
    }
    state.set(id, "visiting");
    stack.push(id);
    for (const e of drafts.get(id)!.edges) if (e.source.kind === "node") visit(e.source.node);
    stack.pop();
    state.set(id, "done");
    order.push(id);
  };
  for (const id of drafts.keys()) visit(id);
  return order;
}
