/**
 * Where a job's graph comes from, and what inputs it takes. `image` names a
 * graph file under the server's --graphs folder (never outside it); an
 * inline `graph` is a spec object. Either way the server resolves `extends`
 * and validates the spec, and the run carries the resolved spec, so workers
 * need no shared disk. The inputs a run may give are the graph's tube-scoped
 * inputs; each epoch's process-scoped inputs go in `process_inputs`.
 */
import { readFile, realpath } from "node:fs/promises";
import path from "node:path";
import { parseDocument } from "yaml";
import { SpecError } from "../../errors.ts";
import { inputMatchesType } from "../../spec/input-types.ts";
import { mergeSpecs, parseSpec } from "../../spec/load.ts";
import type { InputDecl } from "../../store/records.ts";
import { badRequest } from "./registry-error.ts";

/** Epochs a run may ask for at most; a run is a finite batch, not a free-run. */
export const MAX_EPOCHS = 1_000_000;

async function insideGraphs(graphsDir: string | undefined, rel: string): Promise<string> {
  if (!graphsDir) throw badRequest(`image "${rel}": this server has no graphs folder (tubular serve --graphs DIR); send an inline "graph" instead`, [{ path: "image", message: "no graphs folder" }]);
  const root = await realpath(graphsDir);
  let file: string;
  try {
    file = await realpath(path.resolve(root, rel));
  } catch {
    throw badRequest(`image "${rel}": no such graph file under the server's graphs folder`, [{ path: "image", message: "no such graph file" }]);
  }
  if (file !== root && !file.startsWith(root + path.sep)) throw badRequest(`image "${rel}": outside the server's graphs folder`, [{ path: "image", message: "outside the graphs folder" }]);
  return file;
}

async function readSpec(file: string, seen: string[]): Promise<Record<string, unknown>> {
  const text = await readFile(file, "utf8");
  const data: unknown = file.endsWith(".json") ? JSON.parse(text) : parseDocument(text).toJS();
  if (typeof data !== "object" || data === null || Array.isArray(data)) throw new SpecError("TUBULAR_ERR_SPEC_INVALID", file, "", "a graph file holds a mapping");
  const spec = data as Record<string, unknown>;
  if (spec.extends === undefined) return spec;
  const parents = typeof spec.extends === "string" ? [spec.extends] : (spec.extends as string[]);
  let merged: Record<string, unknown> = {};
  for (const p of parents) {
    const parent = path.resolve(path.dirname(file), String(p));
    if (seen.includes(parent)) throw new SpecError("TUBULAR_ERR_SPEC_CYCLE", file, "extends", `extends loops back: ${[...seen, parent].join(" -> ")}`);
    merged = mergeSpecs(merged, await readSpec(parent, [...seen, parent]));
  }
  const { extends: _drop, ...own } = spec;
  return mergeSpecs(merged, own);
}

/** Reads a graph file with its `extends` merged in, as a job's inline graph (e.g. for `tubular jobs submit FILE`). */
export function readGraphFile(file: string): Promise<Record<string, unknown>> {
  const abs = path.resolve(file);
  return readSpec(abs, [abs]);
}

function specFailure(err: unknown, where: string): never {
  if (err instanceof SpecError) throw badRequest(`${where}: ${err.path || "(root)"}: ${err.reason}`, [{ path: err.path ? `graph.${err.path}` : "graph", message: err.reason }]);
  throw badRequest(`${where}: ${(err as Error).message}`, [{ path: "graph", message: (err as Error).message }]);
}

/** The resolved, validated spec of `image` (a file under graphsDir) or of an inline graph. */
export async function resolveGraph(graphsDir: string | undefined, image: string | null | undefined, graph: Record<string, unknown> | null | undefined): Promise<Record<string, unknown>> {
  if (graph) {
    if (graph.extends !== undefined) throw badRequest("an inline graph cannot use extends: send the merged graph, or name a file with image", [{ path: "graph.extends", message: "not allowed inline" }]);
    try {
      parseSpec(graph, "<inline graph>");
    } catch (err) {
      specFailure(err, "graph");
    }
    return graph;
  }
  if (!image) throw badRequest('a graph is needed: "image" (a graph file under the server\'s graphs folder) or an inline "graph"', [{ path: "image", message: "required when there is no graph" }]);
  const file = await insideGraphs(graphsDir, image);
  try {
    const spec = await readSpec(file, [file]);
    parseSpec(spec, file);
    return spec;
  } catch (err) {
    specFailure(err, `image "${image}"`);
  }
}

/** The graph's tube-scoped inputs, as a definition declares them. */
export function inputDecls(spec: Record<string, unknown>): Record<string, InputDecl> {
  const out: Record<string, InputDecl> = {};
  const input = (spec.input ?? {}) as Record<string, { scope: string; type?: string; default?: unknown; required?: boolean; description?: string }>;
  for (const [name, d] of Object.entries(input)) {
    if (d.scope !== "tube") continue;
    out[name] = {
      type: d.type ?? "any",
      required: d.required ?? d.default === undefined,
      ...(d.default !== undefined ? { default: d.default } : {}),
      ...(d.description !== undefined ? { description: d.description } : {}),
    };
  }
  return out;
}

/**
 * Checks a run's inputs against the declared ones; returns them with
 * `epochs` set (default 1, or one per process_inputs entry). Every refusal
 * names the input.
 */
export function checkRunInputs(decls: Record<string, InputDecl>, inputs: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(inputs)) {
    if (name === "epochs" || name === "process_inputs") continue;
    const d = decls[name];
    if (!d) throw badRequest(`input "${name}": the graph declares no such tube input${Object.keys(decls).length ? ` (it has ${Object.keys(decls).join(", ")})` : ""}`, [{ path: `inputs.${name}`, message: "unknown input" }]);
    if (!inputMatchesType(value, d.type)) throw badRequest(`input "${name}": expected ${d.type}, got ${JSON.stringify(value)}`, [{ path: `inputs.${name}`, message: `expected ${d.type}` }]);
    out[name] = value;
  }
  for (const [name, d] of Object.entries(decls)) {
    if (!(name in out) && d.required) throw badRequest(`input "${name}" is required`, [{ path: `inputs.${name}`, message: "required" }]);
  }
  const pi = inputs.process_inputs;
  if (pi !== undefined && pi !== null) {
    if (!Array.isArray(pi) || pi.some((x) => typeof x !== "object" || x === null || Array.isArray(x))) {
      throw badRequest('input "process_inputs": a list with one object of process inputs per epoch', [{ path: "inputs.process_inputs", message: "a list of objects" }]);
    }
    out.process_inputs = pi;
  }
  const epochs = inputs.epochs ?? (Array.isArray(pi) ? pi.length : 1);
  if (!Number.isInteger(epochs) || (epochs as number) < 1 || (epochs as number) > MAX_EPOCHS) {
    throw badRequest(`input "epochs": a whole number from 1 to ${MAX_EPOCHS}, got ${JSON.stringify(inputs.epochs)}`, [{ path: "inputs.epochs", message: "a whole number >= 1" }]);
  }
  if (Array.isArray(pi) && pi.length > (epochs as number)) throw badRequest(`input "process_inputs": ${pi.length} entries for ${String(epochs)} epochs`, [{ path: "inputs.process_inputs", message: "more entries than epochs" }]);
  out.epochs = epochs;
  return out;
}
