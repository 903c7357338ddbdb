// Build step (after tsc): the runner processes' entry as one file, next to the compiled
// runner-main.js, so a runner starts without resolving hundreds of module files
// (see src/runner/zmq/runner-entry.ts; measured by bench/init-10.bench.ts).
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BUILT_BUNDLE, bundleRunner } from "../dist/src/runner/zmq/runner-entry.js";

const dir = fileURLToPath(new URL("../dist/src/runner/zmq/", import.meta.url));
await writeFile(path.join(dir, BUILT_BUNDLE), await bundleRunner(path.join(dir, "runner-main.js")));
