/**
 * vitest global set-up: the tests that start the real `tubular` command (bin/tubular.js) and
 * the package test run the compiled code in dist/, so build it first when any source is newer
 * than the last build (or there is none). In-process tests import src/ directly.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

function newest(entry: string): number {
  const stat = statSync(entry, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(entry).map((name) => newest(path.join(entry, name))));
}

export default function setup(): void {
  // dist/schema.json is the build's last step: its time is the build's.
  const built = newest(path.join(root, "dist/schema.json"));
  const sources = Math.max(...["src", "nodes", "bin", "scripts", "package.json", "tsconfig.json", "tsconfig.build.json"].map((p) => newest(path.join(root, p))));
  if (built > sources) return;
  process.stderr.write("building dist/ (npm run build): sources changed since the last build\n");
  execFileSync("npm", ["run", "build"], { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
}
