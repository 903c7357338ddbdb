/**
 * How a runner process is started. Started under a TypeScript loader, a
 * runner spends about a second compiling and loading before it can identify;
 * bundled into one JavaScript file it starts in about 0.3 s (measured by
 * bench/init-10.bench.ts), and even from the compiled dist/ files it needs
 * twice the CPU of the bundle: resolving and compiling zod's and pino's many
 * module files cost a third of the start-up. So the runner starts from one
 * bundle of runner-main and its dependencies (native addons and the loaders
 * kept outside, so they resolve from the package's node_modules):
 * - compiled (dist/, what users install): the build made it,
 *   dist/src/runner/zmq/runner-main.bundle.js (`npm run build`);
 * - from source (tests under vitest, benches under tsx): the driver bundles
 *   src/runner/zmq/runner-main.ts once per process with esbuild, into the
 *   package's node_modules/.cache, named by its content hash; where that
 *   cannot be written, it falls back to the loader.
 * Custom TypeScript nodes still load: the registry registers the loader on
 * demand (src/node/registry.ts).
 *
 * The runner's heartbeat thread (heartbeat-worker.ts) is its own small entry:
 * compiled, the tsc output next to the bundle; from source, its own bundle in
 * the same cache; under the loader, the .ts file (a worker inherits the
 * loader). The runner is given its path as its third argument.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, writeFile, rename } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = fileURLToPath(import.meta.url);
const MAIN_TS = path.join(path.dirname(HERE), "runner-main.ts");
const WORKER_TS = path.join(path.dirname(HERE), "heartbeat-worker.ts");
const PACKAGE_ROOT = path.resolve(path.dirname(MAIN_TS), "../../..");

export interface RunnerEntry {
  /** Arguments for `node` before the runner's own: the script, and a loader when needed. */
  readonly args: readonly string[];
  readonly bundled: boolean;
  /** The script of the runner's heartbeat thread; absent: next to runner-main (heartbeat-thread.ts). */
  readonly heartbeatWorker?: string;
}

let entry: Promise<RunnerEntry> | undefined;

/** The command line of a runner process (memoized per process). */
export function runnerEntry(): Promise<RunnerEntry> {
  // This very file tells which: compiled, it is runner-entry.js, next to the build's bundle.
  if (HERE.endsWith(".js")) return Promise.resolve({ args: [path.join(path.dirname(HERE), BUILT_BUNDLE)], bundled: true, heartbeatWorker: path.join(path.dirname(HERE), "heartbeat-worker.js") });
  entry ??= bundle().catch(() => ({ args: ["--import", "tsx", MAIN_TS], bundled: false, heartbeatWorker: WORKER_TS }));
  return entry;
}

/** The runner bundle `npm run build` writes next to the compiled runner-main.js. */
export const BUILT_BUNDLE = "runner-main.bundle.js";

async function bundle(): Promise<RunnerEntry> {
  if (process.env.TUBULAR_RUNNER_LOADER === "tsx") throw new Error("bundling disabled");
  const [main, worker] = await Promise.all([cached(MAIN_TS, "runner"), cached(WORKER_TS, "heartbeat-worker")]);
  return { args: [main], bundled: true, heartbeatWorker: worker };
}

/** The bundle of `entry` in the package's cache, named by its content hash. */
async function cached(entry: string, name: string): Promise<string> {
  const code = await bundleRunner(entry);
  const hash = createHash("sha256").update(code).digest("hex").slice(0, 16);
  const dir = path.join(PACKAGE_ROOT, "node_modules", ".cache", "tubular");
  const file = path.join(dir, `${name}-${hash}.mjs`);
  if (!existsSync(file)) {
    await mkdir(dir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, code);
    await rename(tmp, file);
  }
  return file;
}

/** One ES module of a runner's entry (runner-main .ts or .js) and its dependencies (esbuild, a dev dependency). */
export async function bundleRunner(main: string): Promise<Uint8Array> {
  const { build } = await import("esbuild");
  const out = await build({
    entryPoints: [main],
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
  return out.outputFiles[0]!.contents;
}
