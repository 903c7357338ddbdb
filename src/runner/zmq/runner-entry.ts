/**
 * How a runner process is started. From the compiled package (dist/, what
 * users install), the runner is dist's runner-main.js, plain JavaScript.
 * From source (tests under vitest, benches under tsx), as follows.
 * Started under a TypeScript loader, a
 * runner spends about a second compiling and loading before it can identify;
 * bundled into one JavaScript file it starts in about 0.3 s (measured by
 * bench/init-10.bench.ts). So the driver bundles src/runner/zmq/runner-main.ts
 * once per process with esbuild, into the package's node_modules/.cache (so
 * the bundle's import of zeromq, a native addon kept outside it, resolves),
 * named by its content hash. Dependencies are bundled too: resolving and
 * compiling zod's and pino's many module files cost a third of the start-up. Where that cannot be written, it falls back to the loader.
 * Custom TypeScript nodes still load: the registry registers the loader on
 * demand (src/node/registry.ts).
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, writeFile, rename } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = fileURLToPath(import.meta.url);
const MAIN_TS = path.join(path.dirname(HERE), "runner-main.ts");
const PACKAGE_ROOT = path.resolve(path.dirname(MAIN_TS), "../../..");

export interface RunnerEntry {
  /** Arguments for `node` before the runner's own: the script, and a loader when needed. */
  readonly args: readonly string[];
  readonly bundled: boolean;
}

let entry: Promise<RunnerEntry> | undefined;

/** The command line of a runner process (memoized per process). */
export function runnerEntry(): Promise<RunnerEntry> {
  // This very file tells which: compiled, it is runner-entry.js next to runner-main.js.
  if (HERE.endsWith(".js")) return Promise.resolve({ args: [path.join(path.dirname(HERE), "runner-main.js")], bundled: false });
  entry ??= bundle().catch(() => ({ args: ["--import", "tsx", MAIN_TS], bundled: false }));
  return entry;
}

async function bundle(): Promise<RunnerEntry> {
  if (process.env.TUBULAR_RUNNER_LOADER === "tsx") throw new Error("bundling disabled");
  const { build } = await import("esbuild");
  const out = await build({
    entryPoints: [MAIN_TS],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    // Native addons and the loaders stay outside; everything else is one file.
    external: ["zeromq", "msgpackr-extract", "tsx", "tsx/*", "esbuild"],
    write: false,
    logLevel: "silent",
    // Bundled code may still need require() for CommonJS-only paths.
    banner: { js: 'import { createRequire as __tubularRequire } from "node:module"; const require = __tubularRequire(import.meta.url);' },
  });
  const code = out.outputFiles[0]!.contents;
  const hash = createHash("sha256").update(code).digest("hex").slice(0, 16);
  const dir = path.join(PACKAGE_ROOT, "node_modules", ".cache", "tubular");
  const file = path.join(dir, `runner-${hash}.mjs`);
  if (!existsSync(file)) {
    await mkdir(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, code);
    await rename(tmp, file);
  }
  return { args: [file], bundled: true };
}
