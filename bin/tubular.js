#!/usr/bin/env node
// The `tubular` command: the compiled CLI in dist/ (built by `npm run build`, which
// `npm install` runs in a clone). No TypeScript loader here: the CLI is JavaScript, and a
// graph that names a TypeScript node module registers one when it loads it.
let main;
try {
  ({ main } = await import("../dist/src/cli/main.js"));
} catch (err) {
  if (err?.code !== "ERR_MODULE_NOT_FOUND" || !String(err.message).includes("dist")) throw err;
  process.stderr.write("tubular: the compiled code (dist/) is missing; run `npm run build` in the package's folder\n");
  process.exit(1);
}
const code = await main(process.argv);
process.exitCode = code;
// Leave once the output is flushed, even if a runtime handle (a socket, a timer) is still open.
process.stdout.write("", () => process.exit(code));
