/**
 * The node-type map: lets a graph name node (and asset) types the way another
 * tool wrote them, e.g. noob's dotted Python paths, without editing the file.
 * An entry maps a name, or a prefix ending in "*", to a type tubular resolves;
 * a "*" in the target stands for the rest of the name:
 *
 *   noob.testing.*: ./noob_testing.ts#*      (noob.testing.count_source -> ./noob_testing.ts#count_source)
 *   mypkg.filters.lowpass: ./filters.ts#lowpass
 *
 * Relative module targets resolve from the map file's folder (or, for an
 * entry given on the command line, the working directory), so a mapped type
 * is always absolute and a runner process in another folder resolves it the same.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { parse } from "yaml";
import { SpecError } from "../errors.ts";

export interface TypeMapEntry {
  /** The name, or the prefix before a trailing "*". */
  readonly from: string;
  readonly wildcard: boolean;
  /** The target with relative module paths made absolute; may hold one "*". */
  readonly to: string;
}

export type TypeMap = readonly TypeMapEntry[];

function absoluteTarget(target: string, baseDir: string): string {
  const hash = target.indexOf("#");
  const spec = hash < 0 ? target : target.slice(0, hash);
  if (!spec.startsWith(".")) return target;
  return path.resolve(baseDir, spec) + (hash < 0 ? "" : target.slice(hash));
}

function entry(from: string, to: string, baseDir: string, where: string): TypeMapEntry {
  if (!from || typeof to !== "string" || !to) throw new SpecError("TUBULAR_ERR_SPEC_INVALID", where, from, "a type-map entry maps a name (or prefix.*) to a type");
  const wildcard = from.endsWith("*");
  if (from.slice(0, -1).includes("*") || (!wildcard && to.includes("*"))) {
    throw new SpecError("TUBULAR_ERR_SPEC_INVALID", where, from, 'only a trailing "*" is allowed, and the target may use "*" only when the name ends in "*"');
  }
  return { from: wildcard ? from.slice(0, -1) : from, wildcard, to: absoluteTarget(to, baseDir) };
}

/** Entries from an object (the content of a map file). */
export function typeMapFromObject(obj: Record<string, unknown>, baseDir: string, where = "<type map>"): TypeMap {
  return Object.entries(obj).map(([from, to]) => entry(from, to as string, baseDir, where));
}

/** One "name=target" pair, as given on the command line. */
export function typeMapEntryFromPair(pair: string, baseDir: string): TypeMapEntry {
  const eq = pair.indexOf("=");
  if (eq <= 0) throw new SpecError("TUBULAR_ERR_SPEC_INVALID", "--type-map", pair, 'expected NAME=TYPE (e.g. "noob.testing.*=./noob_testing.ts#*") or a map file');
  return entry(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim(), baseDir, "--type-map");
}

/** Reads a YAML or JSON map file: a mapping from names to types. */
export async function loadTypeMap(file: string): Promise<TypeMap> {
  const abs = path.resolve(file);
  let data: unknown;
  try {
    data = parse(await readFile(abs, "utf8"));
  } catch (err) {
    throw new SpecError("TUBULAR_ERR_SPEC_READ", abs, "", `cannot read the type map: ${(err as Error).message.split("\n")[0]}`, { cause: err });
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new SpecError("TUBULAR_ERR_SPEC_INVALID", abs, "", "a type map is a mapping from names to types");
  }
  return typeMapFromObject(data as Record<string, unknown>, path.dirname(abs), abs);
}

/** The type a name maps to (an exact entry wins over a prefix, a longer prefix over a shorter), or the name itself. */
export function mapType(type: string, map: TypeMap | undefined): string {
  if (!map || map.length === 0) return type;
  let best: TypeMapEntry | undefined;
  for (const e of map) {
    if (!e.wildcard) {
      if (e.from === type) return e.to;
      continue;
    }
    if (type.startsWith(e.from) && type.length > e.from.length && (!best || e.from.length > best.from.length)) best = e;
  }
  return best ? best.to.replace("*", type.slice(best.from.length)) : type;
}
