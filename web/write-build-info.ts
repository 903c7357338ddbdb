// Run by `npm run build:web` after vite: records which sources the built files came from.
import { writeFileSync } from "node:fs";
import { BUILD_INFO, sourceDigest } from "./source-digest.ts";

writeFileSync(BUILD_INFO, `${JSON.stringify({ sources: sourceDigest() }, null, 2)}\n`);
