/**
 * Tube: a validated graph, ready to run. Built from a spec whose node types
 * are already resolved to definitions; pure (no files, no imports), so every
 * runner process can rebuild the same Tube from the same spec.
 */
import { SpecError } from "../errors.ts";
import type { NodeDefinition } from "../node/definition.ts";
import { returnNode, type ReturnShape } from "../node/special/return.ts";
import type { AssetSpec, InputSpec, NodeSpec, TubeSpec } from "../spec/schema.ts";
import { inputMatchesType } from "../spec/input-types.ts";

export type EdgeSource =
  | { readonly kind: "node"; readonly node: string; readonly signal: string }
  | { readonly kind: "input"; readonly name: string; readonly scope: "tube" | "process" }
  | { readonly kind: "asset"; readonly name: string };

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
  /** Params given as "assets.NAME": the param name -> the asset (runner-scoped; the object is passed at creation). */
  readonly assetParams: Readonly<Record<string, string>>;
  /**
   * Nodes whose completion of the previous root epoch this node waits for:
   * the sources of the `depends` round-trip of the runner-scoped assets it
   * reads, so it gets the asset as that node left it.
   */
  readonly waitsForPrevious: readonly string[];
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
  /** Asset specs by id (types mapped and absolute). */
  readonly assets: Readonly<Record<string, AssetSpec>>;
  /** Called with a warning the runtime may raise (an undeclared process input). */
  readonly warn: (message: string) => void;
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
  // As noob binds them: the k-th bare reference of the list (a lone string: the first) feeds the node's k-th declared slot.
  // Nodes that declare no slots (plain functions) get it under the signal's name.
  const declared = def.slots === "any" ? undefined : Object.keys(def.slots);
  let position = 0;
  const bare = (ref: string, path: string): string => {
    if (!declared) return parseRef(ref)[1];
    const slot = declared[position++];
    if (slot === undefined) {
      throw new SpecError("TUBULAR_ERR_SPEC_MISSING_REF", "", path, `"${ref}" is bare reference number ${position}, but node "${id}" declares only ${declared.length} slot(s) (${declared.join(", ") || "none"}); name the slot: { slot: ${ref} }`);
    }
    return slot;
  };
  if (typeof deps === "string") return { edges: [{ slot: bare(deps, base), ref: deps, path: base }] };
  return {
    edges: deps.map((d, i) => {
      if (typeof d === "string") return { slot: bare(d, `${base}[${i}]`), ref: d, path: `${base}[${i}]` };
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
  /** Called for a given input the graph does not declare; without it, that is an error. */
  onExtra?: (name: string) => void,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  // noob warns of extra inputs and goes on; the warning comes before a missing input's error, as there.
  if (onExtra) for (const name of Object.keys(given)) if (inputs[name]?.scope !== "tube") onExtra(name);
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
    if (inputs[name]?.scope !== "tube" && !onExtra) throw new SpecError("TUBULAR_ERR_SPEC_MISSING_REF", file, `input.${name}`, `input "${name}" was given but the graph declares no such input (strict inputs)`);
  }
  return out;
}

export interface BuildTubeOptions {
  file: string;
  baseDir: string;
  input?: Record<string, unknown>;
  /** An undeclared tube input is an error rather than a warning. */
  strictInputs?: boolean;
  /** The caller already warned of undeclared tube inputs. */
  extraInputsWarned?: boolean;
  warn?: (message: string) => void;
}

const ASSETS = "assets";

/**
 * Validates a spec's structure beyond its schema (references, signals, cycles,
 * scopes, one return node) and builds the Tube. Every error names the file,
 * the path and the reason.
 */
export function buildTube(spec: TubeSpec, definitions: ReadonlyMap<string, NodeDefinition>, options: BuildTubeOptions): Tube {
  const { file } = options;
  const inputs = spec.input ?? {};
  const warn = options.warn ?? (() => undefined);
  const input = resolveTubeInputs(inputs, options.input ?? {}, file, options.strictInputs ? undefined : options.extraInputsWarned ? () => undefined : (name) => warn(`${file}: input "${name}" was given but the graph declares no such tube input; ignored`));
  // Asset params may be "input.k" of tube inputs too.
  const assets: Record<string, AssetSpec> = {};
  for (const [aid, a] of Object.entries(spec.assets ?? {})) {
    const p = a.params;
    const params = Array.isArray(p)
      ? p.map((v, i) => resolveTubeInput(v, inputs, input, file, `assets.${aid}.params[${i}]`))
      : p ? Object.fromEntries(Object.entries(p).map(([k, v]) => [k, resolveTubeInput(v, inputs, input, file, `assets.${aid}.params.${k}`)])) : p;
    assets[aid] = params === undefined || params === null ? a : { ...a, params };
  }
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
    let rawResult: ReturnType<typeof rawEdges>;
    try {
      rawResult = rawEdges(id, nspec, isReturn ? "return" : definitions.get(id)!);
    } catch (err) {
      if (err instanceof SpecError) throw new SpecError(err.code, file, err.path, err.reason);
      throw err;
    }
    const { edges: raw, shape } = rawResult;
    const def = isReturn ? returnNode(shape!) : definitions.get(id)!;
    if (isReturn) returnShape = shape;
    const params: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(nspec.params ?? {})) {
      if (typeof v === "string" && v.startsWith(`${ASSETS}.`)) continue; // an asset object, given at creation
      params[k] = resolveTubeInput(v, inputs, input, file, `nodes.${id}.params.${k}`);
    }
    const edges = raw.map(({ slot, ref, path }) => {
      const [head, tail] = parseRef(ref);
      if (head === INPUT) {
        const decl = inputs[tail];
        if (!decl) throw new SpecError("TUBULAR_ERR_SPEC_MISSING_REF", file, path, `"${ref}" names no declared input`);
        return { slot, path, source: { kind: "input" as const, name: tail, scope: decl.scope } };
      }
      if (head === ASSETS) {
        if (!assets[tail]) throw new SpecError("TUBULAR_ERR_SPEC_MISSING_REF", file, path, `"${ref}" names no declared asset (the graph has ${Object.keys(assets).join(", ") || "none"})`);
        return { slot, path, source: { kind: "asset" as const, name: tail } };
      }
      return { slot, path, source: { kind: "node" as const, node: head, signal: tail } };
    });
    drafts.set(id, { id, spec: nspec, def, edges, params, ...(shape ? { shape } : {}) });
  }

  // References: nodes exist; then cycles (a cycle is reported as one, before any slot it misuses); then signals and slots.
  for (const d of drafts.values()) {
    for (const e of d.edges) {
      if (e.source.kind !== "node" || drafts.has(e.source.node)) continue;
      throw new SpecError("TUBULAR_ERR_SPEC_MISSING_REF", file, e.path, `"${e.source.node}.${e.source.signal}": there is no node "${e.source.node}"`);
    }
  }
  const order = topologicalOrder(drafts, file);
  for (const d of drafts.values()) {
    for (const e of d.edges) {
      if (e.source.kind !== "node") continue;
      const up = drafts.get(e.source.node)!;
      const ref = `${e.source.node}.${e.source.signal}`;
      if (!up.def.signals.includes(e.source.signal)) {
        throw new SpecError("TUBULAR_ERR_SPEC_MISSING_REF", file, e.path, `"${ref}": node "${e.source.node}" has no signal "${e.source.signal}" (it has ${up.def.signals.join(", ") || "none"})`);
      }
      if (d.def.slots !== "any" && !(e.slot in d.def.slots)) {
        throw new SpecError("TUBULAR_ERR_SPEC_MISSING_REF", file, e.path, `node "${d.id}" (${d.spec.type}) has no slot "${e.slot}" (it has ${Object.keys(d.def.slots).join(", ") || "none"})`);
      }
    }
  }

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
      // return reads any depth, as noob's does: the values of every sub-epoch below, flattened in order.
      else if (s.length > scope.length + 1 && d.def.special === "return") collapsed.add(e.slot);
      else if (s.length > scope.length + 1) {
        throw new SpecError("TUBULAR_ERR_SPEC_SCOPE", file, e.path, `node "${id}" reads "${(e.source as { node: string }).node}" from ${s.length - scope.length} map levels deeper; gather one level at a time`);
      }
    }
    scopes.set(id, scope);
    collapsedOf.set(id, collapsed);
  }

  const assetInfo = analyzeAssets(spec, drafts, order, file, warn);

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
      assetParams: Object.freeze(assetParamsOf(d.spec, assets, file, id)),
      waitsForPrevious: Object.freeze(assetInfo.waits.get(id) ?? []),
      placement: Object.freeze({
        ...(assetInfo.groups.get(id) ?? d.spec.group ? { group: (assetInfo.groups.get(id) ?? d.spec.group)! } : {}),
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
    assets,
    warn,
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

function assetParamsOf(spec: NodeSpec, assets: Record<string, AssetSpec>, file: string, id: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(spec.params ?? {})) {
    if (typeof v !== "string" || !v.startsWith(`${ASSETS}.`)) continue;
    const name = v.slice(ASSETS.length + 1);
    const asset = assets[name];
    if (!asset) throw new SpecError("TUBULAR_ERR_SPEC_MISSING_REF", file, `nodes.${id}.params.${k}`, `"${v}" names no declared asset`);
    if (asset.scope !== "runner") {
      throw new SpecError("TUBULAR_ERR_SPEC_SCOPE", file, `nodes.${id}.params.${k}`, `params are fixed at creation, so "${v}" must be a runner-scoped asset (it is ${asset.scope}-scoped); use depends for it`);
    }
    out[k] = name;
  }
  return out;
}

interface AssetInfo {
  /** Node -> the nodes it waits for in the previous root epoch (asset round-trips). */
  waits: Map<string, string[]>;
  /** Node -> the process group it joins so that the nodes sharing an asset share one object. */
  groups: Map<string, string>;
}

/**
 * What assets mean for the graph's structure:
 * - a runner-scoped asset with `depends: n.s` is read, in each epoch, as `n`
 *   left it in the previous one, so its readers wait for `n`'s previous epoch;
 *   and, as in noob, no node in `n`'s topological generation or later may read
 *   it directly (it would see a half-updated object): pass it on as a signal;
 * - nodes that read an asset, the node that refreshes it, and every node
 *   downstream of those (but return nodes) run in one process: they share one
 *   object, and objects never cross a process boundary, on every runner alike
 *   (docs/architecture.md, "Assets").
 */
function analyzeAssets(
  spec: TubeSpec,
  drafts: ReadonlyMap<string, { id: string; spec: NodeSpec; def: NodeDefinition; edges: ReadonlyArray<Edge & { path: string }> }>,
  order: readonly string[],
  file: string,
  warn: (message: string) => void,
): AssetInfo {
  const assets = spec.assets ?? {};
  const waits = new Map<string, string[]>();
  const groups = new Map<string, string>();
  const ids = Object.keys(assets);
  if (ids.length === 0) return { waits, groups };
  const readers = new Map<string, string[]>(ids.map((a) => [a, []]));
  for (const d of drafts.values()) {
    for (const e of d.edges) if (e.source.kind === "asset" && !readers.get(e.source.name)!.includes(d.id)) readers.get(e.source.name)!.push(d.id);
    for (const v of Object.values(d.spec.params ?? {})) {
      if (typeof v === "string" && v.startsWith(`${ASSETS}.`) && readers.has(v.slice(ASSETS.length + 1)) && !readers.get(v.slice(ASSETS.length + 1))!.includes(d.id)) readers.get(v.slice(ASSETS.length + 1))!.push(d.id);
    }
  }
  const generation = new Map<string, number>();
  for (const id of order) {
    let g = 0;
    for (const e of drafts.get(id)!.edges) if (e.source.kind === "node") g = Math.max(g, generation.get(e.source.node)! + 1);
    generation.set(id, g);
  }
  // Union of nodes that must share a process.
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    while (parent.get(x) !== x) x = parent.get(x)!;
    return x;
  };
  const union = (a: string, b: string) => {
    for (const x of [a, b]) if (!parent.has(x)) parent.set(x, x);
    parent.set(find(a), find(b));
  };
  for (const [id, asset] of Object.entries(assets)) {
    const users = readers.get(id)!;
    for (const u of users) if (!parent.has(u)) parent.set(u, u);
    if (asset.depends) {
      const [node, signal] = [asset.depends.slice(0, asset.depends.indexOf(".")), asset.depends.slice(asset.depends.indexOf(".") + 1)];
      const src = drafts.get(node);
      if (!src) throw new SpecError("TUBULAR_ERR_SPEC_MISSING_REF", file, `assets.${id}.depends`, `"${asset.depends}": there is no node "${node}"`);
      if (!src.def.signals.includes(signal)) {
        // noob accepts this and the asset is simply never refreshed; say so rather than refuse the file.
        warn(`${file}: assets.${id}.depends: node "${node}" has no signal "${signal}" (it has ${src.def.signals.join(", ") || "none"}); the asset is never refreshed`);
      }
      const g = generation.get(node)!;
      for (const u of users) {
        if (u !== node && generation.get(u)! >= g) {
          throw new SpecError(
            "TUBULAR_ERR_SPEC_SCOPE",
            file,
            `nodes.${u}.depends`,
            `node "${u}" reads assets.${id} directly, but runs in the same topological generation as "${node}" (whose ${signal} refreshes the asset) or later; pass the asset on as a signal instead`,
          );
        }
      }
      for (const u of users) {
        const list = waits.get(u) ?? [];
        if (u !== node && !list.includes(node)) list.push(node);
        waits.set(u, list);
      }
      for (const u of users) union(u, node);
    }
    for (let i = 1; i < users.length; i++) union(users[0]!, users[i]!);
  }
  // An asset object (a counter, a connection) is not data: it does not survive serialization between
  // processes. So the nodes it can reach through signals run in the process that holds it too
  // (all but return nodes, which hand their value to the caller as data).
  const down = new Map<string, string[]>();
  for (const d of drafts.values()) for (const e of d.edges) if (e.source.kind === "node") down.set(e.source.node, [...(down.get(e.source.node) ?? []), d.id]);
  const stack = [...parent.keys()];
  const seen = new Set(stack);
  while (stack.length > 0) {
    const x = stack.pop()!;
    for (const y of down.get(x) ?? []) {
      if (drafts.get(y)!.spec.type === "return") continue;
      union(x, y);
      if (!seen.has(y)) {
        seen.add(y);
        stack.push(y);
      }
    }
  }
  // Each set of nodes sharing an asset becomes one group: the explicit group of its members if they agree, else an implicit one.
  const members = new Map<string, string[]>();
  for (const x of parent.keys()) members.set(find(x), [...(members.get(find(x)) ?? []), x]);
  for (const list of members.values()) {
    if (list.length < 2) continue;
    const explicit = [...new Set(list.map((n) => drafts.get(n)!.spec.group).filter((g): g is string => g !== undefined))];
    if (explicit.length > 1) {
      throw new SpecError("TUBULAR_ERR_SPEC_SCOPE", file, `nodes.${list[0]}.group`, `nodes ${list.join(", ")} share an asset, so they run in one process, but name different groups (${explicit.join(", ")})`);
    }
    const group = explicit[0] ?? `assets:${[...list].sort()[0]}`;
    for (const n of list) groups.set(n, group);
  }
  return { waits, groups };
}
