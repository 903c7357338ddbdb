/**
 * Loading a graph: read YAML or JSON, merge `extends`, validate against the
 * schema, resolve node types (modules are imported here, and only here), load
 * nested tubes, and build the frozen Tube. Every error names the file, the
 * path in it and the reason.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { parseDocument } from "yaml";
import type { ZodError } from "zod";
import { SpecError } from "../errors.ts";
import { buildTube, resolveTubeInputs, type Tube } from "../graph/tube.ts";
import type { NodeDefinition } from "../node/definition.ts";
import { isModuleType, resolveNodeType, UnknownTypeError } from "../node/registry.ts";
import { builtinNodes } from "../../nodes/index.ts";
import { tubeNode } from "../node/special/tube.ts";
import { TubeSpec } from "./schema.ts";
import { isPathReference, envTubePath, TubeFinder } from "./tube-search.ts";
import { mapType, type TypeMap } from "./type-map.ts";

export interface LoadOptions {
  /** Tube-scoped input values. */
  input?: Record<string, unknown>;
  /** More node types by name (e.g. the bridge's `rpc`). */
  nodeTypes?: Record<string, NodeDefinition>;
  /** Maps node and asset type names (e.g. noob's dotted Python paths) to types tubular resolves; see src/spec/type-map.ts. */
  typeMap?: TypeMap;
  /** More folders searched for a `tube:` or `extends:` given as a noob_id (after the graph's own folder; TUBULAR_TUBE_PATH is searched too). */
  tubePath?: readonly string[];
  /** A tube input the graph does not declare is an error, not a warning. Default false (noob warns and goes on). */
  strictInputs?: boolean;
  /** Where warnings go (an undeclared tube input, an asset that never refreshes). Default: process.emitWarning. */
  onWarning?: (message: string) => void;
}

/** What one load (a graph and all its parents and children) shares. */
interface LoadContext {
  readonly finder: TubeFinder;
  /** The folder of the graph being loaded, searched for ids after the referencing file's own. */
  readonly rootDir: string;
  readonly typeMap: TypeMap | undefined;
  readonly strictInputs: boolean;
  readonly warn: (message: string) => void;
}

function defaultWarn(message: string): void {
  process.emitWarning(message, "TubularWarning");
}

function makeContext(options: LoadOptions, rootDir: string): LoadContext {
  return {
    finder: new TubeFinder([...(options.tubePath ?? []).map((p) => path.resolve(p)), ...envTubePath()]),
    rootDir,
    typeMap: options.typeMap,
    strictInputs: options.strictInputs ?? false,
    warn: options.onWarning ?? defaultWarn,
  };
}

export interface LoadSpecOptions extends LoadOptions {
  /** Folder that relative module types and nested tube paths resolve from. */
  baseDir: string;
  /** Named in errors; default "<inline>". */
  file?: string;
}

/** "nodes.b.depends[0]" from a zod issue path. */
export function formatPath(parts: ReadonlyArray<PropertyKey>): string {
  let out = "";
  for (const p of parts) out += typeof p === "number" ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out;
}

async function readSpecFile(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new SpecError("TUBULAR_ERR_SPEC_READ", file, "", `cannot read the file: ${(err as Error).message}`, { cause: err });
  }
  let data: unknown;
  if (file.endsWith(".json")) {
    try {
      data = JSON.parse(text);
    } catch (err) {
      throw new SpecError("TUBULAR_ERR_SPEC_READ", file, "", `invalid JSON: ${(err as Error).message}`, { cause: err });
    }
  } else {
    const doc = parseDocument(text, { prettyErrors: true });
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      throw new SpecError("TUBULAR_ERR_SPEC_READ", file, "", `invalid YAML at line ${e.linePos?.[0]?.line ?? "?"}: ${e.message.split("\n")[0]}`);
    }
    data = doc.toJS();
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new SpecError("TUBULAR_ERR_SPEC_INVALID", file, "", "a graph file holds a mapping (nodes:, input:, ...)");
  }
  return data as Record<string, unknown>;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function mergeDicts(left: Record<string, unknown>, right: Record<string, unknown>, forceRight: ReadonlySet<string> = new Set()): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of new Set([...Object.keys(left), ...Object.keys(right)])) {
    const l = left[k];
    const r = right[k];
    if (k in left && k in right && !forceRight.has(k)) out[k] = isPlainObject(l) && isPlainObject(r) ? mergeDicts(l, r) : r;
    else out[k] = k in right ? r : l;
  }
  return out;
}

const DEPENDS = new Set(["depends"]);

function mergeNode(left: unknown, right: unknown): Record<string, unknown> {
  return mergeDicts(isPlainObject(left) ? left : {}, isPlainObject(right) ? right : {}, DEPENDS);
}

/**
 * Merges a parent spec (left) with the spec over it (right), as noob merges
 * `extends`: dicts merge key by key at every depth, lists replace; a node's
 * `depends` is replaced whole; a graph has one return node, so the right's
 * return node replaces the left's (merged over it, under the right's id).
 */
export function mergeSpecs(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  let left = { ...base };
  const right = { ...over };
  const ln = isPlainObject(left.nodes) ? left.nodes : undefined;
  const rn = isPlainObject(right.nodes) ? right.nodes : undefined;
  if (ln && rn) {
    const returnsOf = (nodes: Record<string, unknown>) => Object.keys(nodes).filter((k) => isPlainObject(nodes[k]) && (nodes[k] as { type?: unknown }).type === "return");
    const [lr] = returnsOf(ln);
    const [rr] = returnsOf(rn);
    const leftNodes = { ...ln };
    const rightNodes = { ...rn };
    if (lr !== undefined && rr !== undefined) {
      rightNodes[rr] = mergeNode(leftNodes[lr], rightNodes[rr]);
      delete leftNodes[lr];
    }
    const ids = new Set([...Object.keys(leftNodes), ...Object.keys(rightNodes)]);
    right.nodes = Object.fromEntries([...ids].map((id) => [id, id in rightNodes && id in leftNodes ? mergeNode(leftNodes[id], rightNodes[id]) : (rightNodes[id] ?? leftNodes[id])]));
    const { nodes: _drop, ...rest } = left;
    left = rest;
  }
  return mergeDicts(left, right);
}

/** The file a `tube:` or `extends:` value names: a path relative to `file`, or a noob_id searched for. */
async function resolveGraphRef(ref: string, file: string, where: string, ctx: LoadContext): Promise<string> {
  if (isPathReference(ref)) return path.resolve(path.dirname(file), ref);
  return ctx.finder.find(ref, [path.dirname(file), ctx.rootDir], file, where);
}

async function resolveExtends(data: Record<string, unknown>, file: string, seen: string[], ctx: LoadContext): Promise<Record<string, unknown>> {
  const ext = data.extends;
  if (ext === undefined || ext === null) return data;
  const parents = typeof ext === "string" ? [ext] : Array.isArray(ext) ? ext : null;
  if (!parents || parents.some((p) => typeof p !== "string")) {
    throw new SpecError("TUBULAR_ERR_SPEC_INVALID", file, "extends", "extends is a file path or noob_id, or a list of them");
  }
  let merged: Record<string, unknown> | undefined;
  for (const [i, p] of (parents as string[]).entries()) {
    const parentFile = await resolveGraphRef(p, file, `extends[${i}]`, ctx);
    if (seen.includes(parentFile)) {
      throw new SpecError("TUBULAR_ERR_SPEC_CYCLE", file, `extends[${i}]`, `extends loops back: ${[...seen, parentFile].join(" -> ")}`);
    }
    const parent = await resolveExtends(await readSpecFile(parentFile), parentFile, [...seen, parentFile], ctx);
    merged = merged === undefined ? parent : mergeSpecs(merged, parent);
  }
  const { extends: _drop, ...own } = data;
  return merged === undefined ? own : mergeSpecs(merged, own);
}

function specError(file: string, err: ZodError): SpecError {
  const issue = err.issues[0]!;
  const where = formatPath(issue.path);
  let reason = issue.message;
  if (issue.code === "unrecognized_keys") reason = `unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
  if (issue.code === "invalid_union" && where.endsWith("depends")) reason = 'depends is "node.signal", a list of "node.signal", or a list of { slot: node.signal }';
  return new SpecError("TUBULAR_ERR_SPEC_INVALID", file, where, reason);
}

/** Validates a raw (extends-free) spec object against the schema. */
export function parseSpec(data: unknown, file: string): TubeSpec {
  const parsed = TubeSpec.safeParse(data);
  if (!parsed.success) throw specError(file, parsed.error);
  return parsed.data;
}

/**
 * Reads a graph file and its `extends`, merged and validated, without
 * resolving node types or building the graph (what `tubular validate
 * --spec-only` and a comparison of merged specs need).
 */
export async function loadSpec(file: string, options: Pick<LoadOptions, "tubePath"> = {}): Promise<TubeSpec> {
  const abs = path.resolve(file);
  const ctx = makeContext(options, path.dirname(abs));
  return parseSpec(await resolveExtends(await readSpecFile(abs), abs, [abs], ctx), abs);
}

/** Loads and validates a graph file. */
export async function loadTube(file: string, options: LoadOptions = {}): Promise<Tube> {
  const abs = path.resolve(file);
  const ctx = makeContext(options, path.dirname(abs));
  const data = await resolveExtends(await readSpecFile(abs), abs, [abs], ctx);
  return loadWith(data, { ...options, baseDir: path.dirname(abs), file: abs }, [abs], ctx);
}

/** Validates a spec object (no `extends`, or extends relative to baseDir) and builds the Tube. */
export async function loadTubeFromSpec(data: unknown, options: LoadSpecOptions, seen: string[] = []): Promise<Tube> {
  return loadWith(data, options, seen, makeContext(options, options.baseDir));
}

/** A module type relative to the graph's folder, made absolute: a normalized spec resolves the same from any folder. */
function absoluteModuleType(type: string, baseDir: string): string {
  if (!isModuleType(type) || !type.startsWith(".")) return type;
  const hash = type.indexOf("#");
  return path.resolve(baseDir, hash < 0 ? type : type.slice(0, hash)) + (hash < 0 ? "" : type.slice(hash));
}

async function loadWith(data: unknown, options: LoadSpecOptions, seen: string[], ctx: LoadContext): Promise<Tube> {
  const file = options.file ?? "<inline>";
  const resolved = isPlainObject(data) && data.extends !== undefined ? await resolveExtends(data, path.join(options.baseDir, path.basename(file)), seen, ctx) : data;
  const parsed = parseSpec(resolved, file);
  // The graph's own tube inputs first, so a missing one is named here and not in a child tube it feeds.
  const tubeInput = resolveTubeInputs(parsed.input ?? {}, options.input ?? {}, file, ctx.strictInputs ? undefined : (name) => ctx.warn(`${file}: input "${name}" was given but the graph declares no such tube input; ignored`));
  // Normalized: types mapped and absolute, nested tubes inlined, so a runner process rebuilds it anywhere.
  const nodes: TubeSpec["nodes"] = {};
  const definitions = new Map<string, NodeDefinition>();
  for (const [id, node] of Object.entries(parsed.nodes)) {
    const type = absoluteModuleType(mapType(node.type, ctx.typeMap), options.baseDir);
    nodes[id] = { ...node, type };
    if (type === "return") continue;
    if (type === "tube") {
      const child = await loadChild(id, node.params ?? {}, parsed, tubeInput, options, file, seen, ctx);
      nodes[id] = { ...node, type, params: { ...node.params, tube: child.spec } };
      definitions.set(id, tubeNode(child));
      continue;
    }
    try {
      definitions.set(id, await resolveNodeType(type, options.baseDir, { ...builtinNodes, ...options.nodeTypes }));
    } catch (err) {
      const mapped = type === node.type ? "" : ` (mapped from "${node.type}")`;
      if (err instanceof UnknownTypeError) throw new SpecError("TUBULAR_ERR_SPEC_UNKNOWN_TYPE", file, `nodes.${id}.type`, err.message + mapped);
      throw new SpecError("TUBULAR_ERR_SPEC_UNKNOWN_TYPE", file, `nodes.${id}.type`, (err as Error).message + mapped, { cause: err });
    }
  }
  const assets = parsed.assets
    ? Object.fromEntries(Object.entries(parsed.assets).map(([id, a]) => [id, { ...a, type: absoluteModuleType(mapType(a.type, ctx.typeMap), options.baseDir) }]))
    : undefined;
  const spec: TubeSpec = { ...parsed, nodes, ...(assets ? { assets } : {}) };
  return buildTube(spec, definitions, {
    file,
    baseDir: options.baseDir,
    ...(options.input ? { input: options.input } : {}),
    strictInputs: ctx.strictInputs,
    extraInputsWarned: true,
    warn: ctx.warn,
  });
}

async function loadChild(
  id: string,
  params: Record<string, unknown>,
  spec: TubeSpec,
  parentInput: Record<string, unknown>,
  options: LoadSpecOptions,
  file: string,
  seen: string[],
  ctx: LoadContext,
): Promise<Tube> {
  const { tube: ref, ...childParams } = params;
  let data: Record<string, unknown>;
  let childFile: string;
  let childDir: string;
  if (isPlainObject(ref)) {
    // Already inlined by the process that loaded the graph (a runner process rebuilding it).
    data = ref;
    childFile = `${file}#nodes.${id}`;
    childDir = options.baseDir;
  } else if (typeof ref === "string") {
    const base = file === "<inline>" ? path.join(options.baseDir, "<inline>") : file;
    childFile = await resolveGraphRef(ref, base, `nodes.${id}.params.tube`, ctx);
    if (seen.includes(childFile)) {
      throw new SpecError("TUBULAR_ERR_SPEC_CYCLE", file, `nodes.${id}.params.tube`, `nested tubes loop back: ${[...seen, childFile].join(" -> ")}`);
    }
    data = await resolveExtends(await readSpecFile(childFile), childFile, [...seen, childFile], ctx);
    childDir = path.dirname(childFile);
  } else {
    throw new SpecError("TUBULAR_ERR_SPEC_INVALID", file, `nodes.${id}.params.tube`, "a tube node needs params.tube: the path or noob_id of the child graph");
  }
  // As in noob, the parent's tube inputs reach the child by name; the node's own params override them.
  const declared = isPlainObject(data.input) ? data.input : {};
  const childInput: Record<string, unknown> = {};
  for (const name of Object.keys(declared)) if (parentInput[name] !== undefined) childInput[name] = parentInput[name];
  for (const [k, v] of Object.entries(childParams)) {
    if (typeof v === "string" && v.startsWith("input.")) {
      const name = v.slice(6);
      const decl = spec.input?.[name];
      if (!decl || decl.scope !== "tube") {
        throw new SpecError("TUBULAR_ERR_SPEC_SCOPE", file, `nodes.${id}.params.${k}`, `"${v}" must name a tube-scoped input of this graph`);
      }
      childInput[k] = parentInput[name];
    } else childInput[k] = v;
  }
  const childSeen = typeof ref === "string" ? [...seen, childFile] : seen;
  return loadWith(data, { input: childInput, baseDir: childDir, file: childFile, ...(options.nodeTypes ? { nodeTypes: options.nodeTypes } : {}) }, childSeen, ctx);
}
