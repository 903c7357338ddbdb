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
import { resolveNodeType, UnknownTypeError } from "../node/registry.ts";
import { builtinNodes } from "../../nodes/index.ts";
import { tubeNode } from "../node/special/tube.ts";
import { TubeSpec } from "./schema.ts";

export interface LoadOptions {
  /** Tube-scoped input values. */
  input?: Record<string, unknown>;
  /** More node types by name (e.g. the bridge's `rpc`). */
  nodeTypes?: Record<string, NodeDefinition>;
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

/** Dicts merge recursively, a node's `depends` and any list are replaced whole. */
export function mergeSpecs(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = k !== "depends" && isPlainObject(b) && isPlainObject(v) ? mergeSpecs(b, v) : v;
  }
  return out;
}

async function resolveExtends(data: Record<string, unknown>, file: string, seen: string[]): Promise<Record<string, unknown>> {
  const ext = data.extends;
  if (ext === undefined) return data;
  const parents = typeof ext === "string" ? [ext] : Array.isArray(ext) ? ext : null;
  if (!parents || parents.some((p) => typeof p !== "string")) {
    throw new SpecError("TUBULAR_ERR_SPEC_INVALID", file, "extends", "extends is a file path or a list of file paths");
  }
  let merged: Record<string, unknown> = {};
  for (const [i, p] of (parents as string[]).entries()) {
    const parentFile = path.resolve(path.dirname(file), p);
    if (seen.includes(parentFile)) {
      throw new SpecError("TUBULAR_ERR_SPEC_CYCLE", file, `extends[${i}]`, `extends loops back: ${[...seen, parentFile].join(" -> ")}`);
    }
    const parent = await resolveExtends(await readSpecFile(parentFile), parentFile, [...seen, parentFile]);
    merged = mergeSpecs(merged, parent);
  }
  const { extends: _drop, ...own } = data;
  return mergeSpecs(merged, own);
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

/** Loads and validates a graph file. */
export async function loadTube(file: string, options: LoadOptions = {}): Promise<Tube> {
  const abs = path.resolve(file);
  const data = await resolveExtends(await readSpecFile(abs), abs, [abs]);
  return loadTubeFromSpec(data, { ...options, baseDir: path.dirname(abs), file: abs }, [abs]);
}

/** Validates a spec object (no `extends`, or extends relative to baseDir) and builds the Tube. */
export async function loadTubeFromSpec(data: unknown, options: LoadSpecOptions, seen: string[] = []): Promise<Tube> {
  const file = options.file ?? "<inline>";
  const resolved = isPlainObject(data) && data.extends !== undefined ? await resolveExtends(data, path.join(options.baseDir, path.basename(file)), seen) : data;
  const spec = parseSpec(resolved, file);
  // The graph's own tube inputs first, so a missing one is named here and not in a child tube it feeds.
  resolveTubeInputs(spec.input ?? {}, options.input ?? {}, file);
  const definitions = new Map<string, NodeDefinition>();
  for (const [id, node] of Object.entries(spec.nodes)) {
    if (node.type === "return") continue;
    if (node.type === "tube") {
      definitions.set(id, tubeNode(await loadChild(id, node.params ?? {}, spec, options, file, seen)));
      continue;
    }
    try {
      definitions.set(id, await resolveNodeType(node.type, options.baseDir, { ...builtinNodes, ...options.nodeTypes }));
    } catch (err) {
      if (err instanceof UnknownTypeError) throw new SpecError("TUBULAR_ERR_SPEC_UNKNOWN_TYPE", file, `nodes.${id}.type`, err.message);
      throw new SpecError("TUBULAR_ERR_SPEC_UNKNOWN_TYPE", file, `nodes.${id}.type`, (err as Error).message, { cause: err });
    }
  }
  return buildTube(spec, definitions, { file, baseDir: options.baseDir, ...(options.input ? { input: options.input } : {}) });
}

async function loadChild(id: string, params: Record<string, unknown>, spec: TubeSpec, options: LoadSpecOptions, file: string, seen: string[]): Promise<Tube> {
  const { tube: childPath, ...childParams } = params;
  if (typeof childPath !== "string") {
    throw new SpecError("TUBULAR_ERR_SPEC_INVALID", file, `nodes.${id}.params.tube`, "a tube node needs params.tube: the path of the child graph file");
  }
  const childFile = path.resolve(options.baseDir, childPath);
  if (seen.includes(childFile)) {
    throw new SpecError("TUBULAR_ERR_SPEC_CYCLE", file, `nodes.${id}.params.tube`, `nested tubes loop back: ${[...seen, childFile].join(" -> ")}`);
  }
  // Child tube inputs may themselves come from this tube's inputs ("input.k").
  const childInput: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(childParams)) {
    if (typeof v === "string" && v.startsWith("input.")) {
      const name = v.slice(6);
      const decl = spec.input?.[name];
      if (!decl || decl.scope !== "tube") {
        throw new SpecError("TUBULAR_ERR_SPEC_SCOPE", file, `nodes.${id}.params.${k}`, `"${v}" must name a tube-scoped input of this graph`);
      }
      childInput[k] = options.input?.[name] ?? decl.default;
    } else childInput[k] = v;
  }
  const data = await resolveExtends(await readSpecFile(childFile), childFile, [...seen, childFile]);
  return loadTubeFromSpec(data, { input: childInput, baseDir: path.dirname(childFile), file: childFile, ...(options.nodeTypes ? { nodeTypes: options.nodeTypes } : {}) }, [...seen, childFile]);
}
