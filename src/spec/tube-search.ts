/**
 * Finding a graph file by its `noob_id`, for `tube:` and `extends:` written
 * the way noob writes them (an id, not a path). Searched, in order: the
 * folder of the file that names it, the folder of the graph being loaded
 * (each recursively), then the folders of `--tube-path` / the loader's
 * `tubePath` and of the `TUBULAR_TUBE_PATH` environment variable
 * (path-delimiter separated). A miss names every folder it looked in.
 */
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { SpecError } from "../errors.ts";

const GRAPH_FILE = /\.(ya?ml|json)$/;
const SKIP_DIR = new Set(["node_modules", ".git"]);

/** Whether a `tube:` / `extends:` value is a file path rather than a noob_id. */
export function isPathReference(ref: string): boolean {
  return GRAPH_FILE.test(ref) || ref.includes("/") || ref.includes("\\") || ref.startsWith(".");
}

/** The folders of TUBULAR_TUBE_PATH. */
export function envTubePath(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.TUBULAR_TUBE_PATH ?? "").split(path.delimiter).filter((p) => p.length > 0).map((p) => path.resolve(p));
}

/** The noob_id (or id) a graph file declares, read cheaply; undefined when none. */
async function declaredId(file: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    return undefined;
  }
  if (file.endsWith(".json")) {
    try {
      const data = JSON.parse(text) as { noob_id?: unknown; id?: unknown };
      const id = data.noob_id ?? data.id;
      return typeof id === "string" ? id : undefined;
    } catch {
      return undefined;
    }
  }
  const m = /^(?:noob_id|id):[ \t]*["']?([^"'\s#]+)["']?[ \t]*(?:#.*)?$/m.exec(text);
  return m?.[1];
}

async function walk(dir: string, out: string[]): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    if (e.isDirectory()) {
      if (!SKIP_DIR.has(e.name) && !e.name.startsWith(".")) await walk(path.join(dir, e.name), out);
    } else if (GRAPH_FILE.test(e.name)) out.push(path.join(dir, e.name));
  }
}

/**
 * Finds graph files by id within a set of folders. One per load: each folder
 * is indexed once, on first use, so a graph with many nested tubes reads
 * each folder once.
 */
export class TubeFinder {
  private readonly indexes = new Map<string, Promise<Map<string, string[]>>>();

  constructor(private readonly extraDirs: readonly string[] = []) {}

  private index(dir: string): Promise<Map<string, string[]>> {
    let idx = this.indexes.get(dir);
    if (!idx) {
      idx = (async () => {
        const files: string[] = [];
        await walk(dir, files);
        files.sort();
        const byId = new Map<string, string[]>();
        for (const f of files) {
          const id = await declaredId(f);
          if (id !== undefined) byId.set(id, [...(byId.get(id) ?? []), f]);
        }
        return byId;
      })();
      this.indexes.set(dir, idx);
    }
    return idx;
  }

  /**
   * The file that declares `id`, searching `dirs` (recursively) then the
   * extra folders. Throws a SpecError at `file`/`where` that lists the
   * folders searched when none does, or when one folder holds two.
   */
  async find(id: string, dirs: readonly string[], file: string, where: string): Promise<string> {
    const searched: string[] = [];
    for (const dir of [...new Set([...dirs, ...this.extraDirs])]) {
      searched.push(dir);
      const hits = (await this.index(dir)).get(id);
      if (!hits) continue;
      if (hits.length > 1) {
        throw new SpecError("TUBULAR_ERR_SPEC_READ", file, where, `noob_id "${id}" is declared by more than one file in ${dir}: ${hits.join(", ")}`);
      }
      return hits[0]!;
    }
    throw new SpecError(
      "TUBULAR_ERR_SPEC_READ",
      file,
      where,
      `no graph file declares noob_id "${id}"; searched (recursively): ${searched.join(", ")}; add a folder with --tube-path or TUBULAR_TUBE_PATH`,
    );
  }
}
