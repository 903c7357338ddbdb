/**
 * Resolves a graph's node `type` to a NodeDefinition: types given by name
 * (the caller passes the built-in library and any of its own), special
 * nodes, then modules
 * ("./relative.ts#export" from the graph file's folder, "package#export").
 * A host only ever resolves types from its own library and module paths.
 */
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { NodeDefinition } from "./definition.ts";
import { toNodeDefinition } from "./define.ts";
import { gatherNode } from "./special/gather.ts";
import { mapNode } from "./special/map.ts";

export const specialNodes: Readonly<Record<string, NodeDefinition>> = Object.freeze({ map: mapNode, gather: gatherNode });

/** Names usable in a graph without a module path. */
export function knownTypeNames(named: Record<string, NodeDefinition> = {}): string[] {
  return [...Object.keys(specialNodes), "return", "tube", ...Object.keys(named)].sort();
}

export function isModuleType(type: string): boolean {
  return type.includes("#") || type.startsWith(".") || type.startsWith("/");
}

export class UnknownTypeError extends Error {}

/** Resolves a type name; throws UnknownTypeError with the reason when it cannot. */
export async function resolveNodeType(type: string, baseDir: string, named: Record<string, NodeDefinition> = {}): Promise<NodeDefinition> {
  const found = named[type] ?? specialNodes[type];
  if (found) return found;
  if (!isModuleType(type)) {
    throw new UnknownTypeError(`unknown node type "${type}"; known types: ${knownTypeNames(named).join(", ")}; or use "./module.ts#export" or "package#export"`);
  }
  return toNodeDefinition(await importTypeExport(type, baseDir), type);
}

/** The export a module type ("./module.ts#export", "package#export") names; throws UnknownTypeError. */
export async function importTypeExport(type: string, baseDir: string): Promise<unknown> {
  const hash = type.lastIndexOf("#");
  const specifier = hash < 0 ? type : type.slice(0, hash);
  const exportName = hash < 0 ? "default" : type.slice(hash + 1);
  let url: string;
  if (specifier.startsWith(".") || path.isAbsolute(specifier)) {
    url = pathToFileURL(path.resolve(baseDir, specifier)).href;
  } else {
    try {
      url = pathToFileURL(createRequire(path.join(baseDir, "noop.js")).resolve(specifier)).href;
    } catch {
      url = specifier; // ESM-only packages: let import() resolve them
    }
  }
  let mod: Record<string, unknown>;
  try {
    mod = await importModule(url);
  } catch (err) {
    throw new UnknownTypeError(`type "${type}": cannot import "${specifier}": ${(err as Error).message.split("\n")[0]}`);
  }
  const exported = mod[exportName];
  if (exported === undefined) {
    throw new UnknownTypeError(`type "${type}": module "${specifier}" has no export "${exportName}" (it exports ${Object.keys(mod).join(", ") || "nothing"})`);
  }
  return exported;
}

let tsLoader: Promise<void> | undefined;

/**
 * Why Node refused a TypeScript module it was asked to import: it does not know ".ts"
 * (Node 20), or its own type stripping (Node 22.18 and later) cannot take this module
 * (syntax that needs transforming, or a file inside node_modules).
 */
const NEEDS_TS_LOADER = new Set(["ERR_UNKNOWN_FILE_EXTENSION", "ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX", "ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING"]);

/**
 * Imports a module. tubular itself is compiled JavaScript, so the CLI, the driver, runner
 * processes and host agents start without a TypeScript loader; only a process that meets a
 * TypeScript node module (`./node.ts#export`) registers tsx, once, and tries again. A process
 * that already has a loader (tsx, vitest) imports it at the first try.
 */
async function importModule(url: string): Promise<Record<string, unknown>> {
  try {
    return (await import(url)) as Record<string, unknown>;
  } catch (err) {
    if (!NEEDS_TS_LOADER.has((err as { code?: string }).code ?? "")) throw err;
    tsLoader ??= import("tsx/esm/api").then(({ register }) => void register());
    await tsLoader;
    // Node remembers the failed import of this URL; a query makes it a new module record.
    return (await import(`${url}${url.includes("?") ? "&" : "?"}tsx`)) as Record<string, unknown>;
  }
}
