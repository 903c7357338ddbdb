/** The command-line options that shape how a graph is loaded, shared by `run` and `validate`. */
import { loadTypeMap, typeMapEntryFromPair, type TypeMap } from "../spec/type-map.ts";
import type { LoadOptions } from "../spec/load.ts";

export interface LoadCliOptions {
  /** --type-map values: map files or name=type pairs. */
  typeMap?: string[];
  tubePath?: string[];
  strictInputs?: boolean;
}

/** Commander's collector for a repeatable option. */
export function collectList(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** --type-map values in order: "name=type" pairs (relative to the working directory) and map files; later entries win. */
export async function resolveTypeMap(values: readonly string[]): Promise<TypeMap> {
  const out: TypeMap[number][] = [];
  for (const v of values) {
    if (v.includes("=")) out.push(typeMapEntryFromPair(v, process.cwd()));
    else out.push(...(await loadTypeMap(v)));
  }
  return out.reverse();
}

/** The loader options the command-line options ask for; warnings go to `stderr`. */
export async function loadOptionsFrom(options: LoadCliOptions, stderr: NodeJS.WritableStream): Promise<LoadOptions> {
  return {
    typeMap: await resolveTypeMap(options.typeMap ?? []),
    tubePath: options.tubePath ?? [],
    strictInputs: options.strictInputs === true,
    onWarning: (m) => void stderr.write(`warning: ${m}\n`),
  };
}
