#!/usr/bin/env node
// The `tubular` command: the compiled CLI in dist/ (built by `npm run build`, which
// `npm install` runs in a clone). No TypeScript loader here: the CLI is JavaScript, and a
// graph that names a TypeScript node module registers one when it loads it.
const entry = new URL("../dist/src/cli/main.js", import.meta.url);
let main;
try {
  ({ main } = await import(entry.href));
} catch (err) {
  // Only the CLI's own file missing means "not built"; anything else is a real error.
  if (err?.code !== "ERR_MODULE_NOT_FOUND" || err.url !== entry.href) throw err;
  process.stderr.write("tubular: the compiled code (dist/) is missing; run `npm run build` in the package's folder\n");
  process.exit(1);
}
const code = await main(process.argv);
process.exitCode = code;
// Leave once the output is flushed, even if a runtime handle (a socket, a timer) is still open.
process.stdout.write("", () => process.exit(code));
