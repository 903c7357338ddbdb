#!/usr/bin/env node
// The `tubular` command. Registers a TypeScript loader first, so the CLI's own
// source and custom nodes written in TypeScript run without a build step.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
const code = await main(process.argv);
process.exitCode = code;
// Leave once the output is flushed, even if a runtime handle (a socket, a timer) is still open.
process.stdout.write("", () => process.exit(code));
