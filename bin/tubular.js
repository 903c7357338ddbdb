#!/usr/bin/env node
// The `tubular` command. Registers a TypeScript loader first, so the CLI's own
// source and custom nodes written in TypeScript run without a build step.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv);
